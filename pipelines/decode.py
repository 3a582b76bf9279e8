"""Decoders shared by the variants: one TensorFlow path and one PIL path.

The TensorFlow path (`decode_resize`) is the reference: `tf.io.decode_image`
to RGB, bilinear `tf.image.resize` without antialiasing, then scaling to [0, 1].
The validation set is decoded with it for every variant. The PIL path is what
Python-side loaders (generators, PyDataset) typically use. Its JPEG decode
differs from TensorFlow's by a level or two on some pixels (mean absolute error
0.004 on the embedded dataset, measured by the equivalence check: the two
libraries' inverse DCTs differ), and on resize PIL's bilinear filter antialiases
when it shrinks, where the reference does not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def decode_resize(contents, image_size: Sequence[int], method: str = "bilinear"):
    """Encoded JPEG/PNG bytes (a scalar string tensor) -> float32 (H, W, 3) in [0, 1]."""
    return resize_scale(decode_bytes(contents), image_size, method)


def decode_bytes(contents):
    """The reference decoder's first half: encoded bytes -> uint8 RGB tensor (a profiler stage too)."""
    import tensorflow as tf

    return tf.io.decode_image(contents, channels=3, expand_animations=False)


def resize_scale(image, image_size: Sequence[int], method: str = "bilinear"):
    """The reference decoder's second half: bilinear resize without antialiasing, then [0, 1].

    `method="nearest"` and `"bilinear_antialias"` give the twins the data-equivalence
    check compares a delivery with, to tell which resize a pipeline used.
    """
    import tensorflow as tf

    base, antialias = method.removesuffix("_antialias"), method.endswith("_antialias")
    resized = tf.image.resize(image, image_size, method=base, antialias=antialias)
    return tf.cast(resized, tf.float32) / 255.0  # nearest keeps uint8; bilinear gives float32 already


def load_path(path, label, image_size: Sequence[int]):
    """A `map` function over (path, label) pairs: read, decode, resize, scale."""
    import tensorflow as tf

    return decode_resize(tf.io.read_file(path), image_size), tf.cast(label, tf.int32)


def decode_all(paths: Sequence[str], image_size: Sequence[int], batch_size: int = 256,
               method: str = "bilinear") -> np.ndarray:
    """Decode every file with the reference decoder into one float32 array (N, H, W, 3).

    Where TensorFlow is not installed, the PIL path stands in (identical on images
    already at the target size, as the embedded dataset's are).
    """
    from pipelines.base import tensorflow_available

    if not tensorflow_available():
        height, width = image_size
        images = [pil_load(p, image_size, method) for p in paths]
        return np.stack(images) if images else np.zeros((0, height, width, 3), np.float32)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(list(paths))
    ds = ds.map(lambda p: decode_resize(tf.io.read_file(p), image_size, method),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    chunks = [chunk.numpy() for chunk in ds.batch(batch_size)]
    height, width = image_size
    return np.concatenate(chunks) if chunks else np.zeros((0, height, width, 3), np.float32)


def pil_load(path: str, image_size: Sequence[int], method: str = "bilinear") -> np.ndarray:
    """Decode one file with PIL to float32 (H, W, 3) in [0, 1], resizing (bilinearly) if needed."""
    return pil_resize_scale(pil_decode(path), image_size, method)


def pil_decode(source):
    """A path or binary file object -> PIL RGB image (the PIL path's decode stage)."""
    from PIL import Image

    with Image.open(source) as img:
        return img.convert("RGB")


def pil_resize_scale(rgb, image_size: Sequence[int], method: str = "bilinear") -> np.ndarray:
    """PIL RGB image -> float32 (H, W, 3) in [0, 1], resized (bilinearly) if not already that size."""
    from PIL import Image

    height, width = image_size
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), Image.NEAREST if method == "nearest" else Image.BILINEAR)
    return np.asarray(rgb, dtype=np.float32) / 255.0
