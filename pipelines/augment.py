"""The augmentation axis, shared by every variant that supports it.

* `none`: no augmentation.
* `tf_image`: `tf.image` random flip, brightness and contrast, in a batch-level `map`.
* `keras_layers`: Keras preprocessing layers (flip, rotation, zoom) inside the model
  (see `bench.run.models`); works with every variant because the pipeline is untouched.
* `numpy_pyfunc`: Keras' NumPy image functions (`random_rotation`, `random_shift`,
  `random_zoom`, from `tf_keras`) run through `tf.py_function` on each batch, with
  joblib spreading the images of a batch over threads: the recipe of the seed
  tutorials, and a GIL-bound stage by construction.

Augmentations keep images float32 in [0, 1], so the delivered contract holds.
"""

from __future__ import annotations

import numpy as np

IN_PIPELINE = ("tf_image", "numpy_pyfunc")  # applied to the delivered batches (keras_layers: in the model)


def apply(ds, augmentation: str, seed: int):
    """Apply a pipeline-side augmentation to a batched `tf.data.Dataset`."""
    import tensorflow as tf

    if augmentation in ("none", "keras_layers"):
        return ds
    if augmentation == "tf_image":
        return ds.map(lambda x, y: (_tf_image(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    if augmentation == "numpy_pyfunc":
        return ds.map(lambda x, y: (_numpy_pyfunc(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    raise ValueError(f"unknown augmentation {augmentation!r}")


def tail(ds, request):
    """The common end of a batched tf.data pipeline: augmentation, then the prefetch option."""

    from pipelines.tfops import prefetched

    return prefetched(apply(ds, request.augmentation, request.seed), request.options.get("prefetch", 0))


def _tf_image(images):
    import tensorflow as tf

    images = tf.image.random_flip_left_right(images)
    images = tf.image.random_brightness(images, 0.1)
    images = tf.image.random_contrast(images, 0.8, 1.2)
    return tf.clip_by_value(images, 0.0, 1.0)


def _numpy_pyfunc(images):
    import tensorflow as tf

    out = tf.py_function(numpy_augment_batch, [images], tf.float32)
    out.set_shape(images.shape)
    return out


def numpy_augment_batch(images) -> np.ndarray:
    """Rotate, shift and zoom each image of a batch with tf_keras' NumPy functions."""
    from joblib import Parallel, delayed

    batch = images.numpy() if hasattr(images, "numpy") else np.asarray(images)
    done = Parallel(n_jobs=-1, prefer="threads")(delayed(_numpy_augment_one)(img) for img in batch)
    return np.clip(np.stack(done), 0.0, 1.0).astype(np.float32)


def _numpy_augment_one(image: np.ndarray) -> np.ndarray:
    from tf_keras.preprocessing.image import random_rotation, random_shift, random_zoom

    kwargs = {"row_axis": 0, "col_axis": 1, "channel_axis": 2, "fill_mode": "nearest"}
    image = random_rotation(image, 15, **kwargs)
    image = random_shift(image, 0.1, 0.1, **kwargs)
    return random_zoom(image, (0.9, 1.1), **kwargs)


def keras_layers(seed: int):
    """The preprocessing layers placed in front of the model for `keras_layers`."""
    import keras

    return [
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.05, fill_mode="nearest", seed=seed + 1),
        keras.layers.RandomZoom(0.1, fill_mode="nearest", seed=seed + 2),
    ]
