"""The augmentation axis: one recipe, implemented five ways, shared by every variant that supports it.

The recipe (`RECIPE`) is the seeds' usual one: a random horizontal flip, a rotation of up
to 15 degrees, a zoom of up to 10% and a brightness shift of up to 0.1 (images in [0, 1]),
each drawn per image. The implementations compare the same work:

* `none`: no augmentation.
* `tf_image`: TensorFlow ops in a batch-level tf.data `map`: `tf.image` flip, one projective
  transform per image (rotation and zoom, `tf.raw_ops.ImageProjectiveTransformV3`, the op
  Keras' layers use on this backend) and a per-image brightness shift.
* `keras_layers`: Keras preprocessing layers inside the model (see `bench.run.models`);
  works with every variant because the pipeline is untouched.
* `keras_layers_map`: the same layers applied in a batch-level tf.data `map`.
* `numpy_pyfunc`: Keras' NumPy image functions (`random_rotation`, `random_zoom`, from
  `tf_keras`) and NumPy's flip and brightness shift, in `tf.py_function` on each batch, with joblib
  spreading a batch's images as the variant's `joblib` and `n_jobs` options say
  (processes by default, as seed 003's `Parallel(n_jobs=-1)`; threads; or off).
* ImageDataGenerator's own (`image_data_generator_aug`): the same ranges as IDG arguments.

Where they cannot match exactly: Keras' and tf_keras' NumPy zoom draw the two axes'
factors independently (`random_zoom`, IDG's `zoom_range`), Keras' layer and `tf_image` draw
one factor for both; IDG's brightness is a factor on 0-255 (`brightness_range=(0.9, 1.1)`),
the others add a shift. Augmentations keep images float32 in [0, 1], so the delivered
contract holds.
"""

from __future__ import annotations

import math

import numpy as np

from pipelines.base import Option

RECIPE = {"flip": "horizontal", "rotation_deg": 15.0, "zoom": 0.1, "brightness": 0.1}
IN_PIPELINE = ("tf_image", "keras_layers_map", "numpy_pyfunc")  # applied to the delivered batches
JOBLIB_BACKENDS = ("processes", "threads", "off")

JOBLIB_OPTIONS = (
    Option("joblib", "processes", "numpy_pyfunc: how joblib spreads a batch's images (seed 003: processes)",
           choices=JOBLIB_BACKENDS),
    Option("n_jobs", -1, "numpy_pyfunc: joblib's n_jobs (-1: one per core)", parse=int),
)


def apply(ds, augmentation: str, seed: int, options=None):
    """Apply a pipeline-side augmentation to a batched `tf.data.Dataset`; `options` (a variant's)
    may set joblib's backend and `n_jobs` for `numpy_pyfunc`."""
    import tensorflow as tf

    options = options or {}
    joblib, n_jobs = options.get("joblib", "processes"), options.get("n_jobs", -1)
    if augmentation in ("none", "keras_layers"):
        return ds
    if augmentation == "tf_image":
        return ds.map(lambda x, y: (tf_image(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    if augmentation == "keras_layers_map":
        layers = keras_layers(seed)
        return ds.map(lambda x, y: (in_layers(layers, x), y), num_parallel_calls=tf.data.AUTOTUNE)
    if augmentation == "numpy_pyfunc":
        return ds.map(lambda x, y: (_numpy_pyfunc(x, joblib, n_jobs), y), num_parallel_calls=tf.data.AUTOTUNE)
    raise ValueError(f"unknown augmentation {augmentation!r}")


def tail(ds, request):
    """The common end of a batched tf.data pipeline: augmentation, then the prefetch option."""

    from pipelines.tfops import prefetched

    return prefetched(apply(ds, request.augmentation, request.seed, request.options),
                      request.options.get("prefetch", 0))


def tf_image(images):
    """The recipe with TensorFlow ops on a batch: flip, rotate + zoom, brightness, per image."""
    import tensorflow as tf

    n = tf.shape(images)[0]
    height, width = tf.cast(tf.shape(images)[1], tf.float32), tf.cast(tf.shape(images)[2], tf.float32)
    images = tf.image.random_flip_left_right(images)
    angle = tf.random.uniform([n], -1.0, 1.0) * (RECIPE["rotation_deg"] * math.pi / 180)
    scale = 1.0 + tf.random.uniform([n], -RECIPE["zoom"], RECIPE["zoom"])  # > 1 samples more: zooms out
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    cx, cy = (width - 1) / 2, (height - 1) / 2
    # output (x, y) reads input (a0 x + a1 y + a2, b0 x + b1 y + b2): rotation and scale about the centre
    transforms = tf.stack([cos, -sin, cx - cos * cx + sin * cy,
                           sin, cos, cy - sin * cx - cos * cy,
                           tf.zeros([n]), tf.zeros([n])], axis=1)
    images = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="NEAREST")
    shift = tf.random.uniform([n, 1, 1, 1], -RECIPE["brightness"], RECIPE["brightness"])
    return tf.clip_by_value(images + shift, 0.0, 1.0)


def _numpy_pyfunc(images, joblib: str, n_jobs: int):
    import tensorflow as tf

    out = tf.py_function(lambda batch: numpy_augment_batch(batch, joblib, n_jobs), [images], tf.float32)
    out.set_shape(images.shape)
    return out


def numpy_augment_batch(images, joblib: str = "processes", n_jobs: int = -1) -> np.ndarray:
    """The recipe on each image of a batch with NumPy and tf_keras' NumPy functions, spread by joblib
    over processes (its default backend, loky) or threads, or in a plain loop (`joblib="off"`)."""
    batch = images.numpy() if hasattr(images, "numpy") else np.asarray(images)
    seeds = np.random.SeedSequence().generate_state(len(batch))  # processes do not share NumPy's state
    if joblib == "off":
        done = [numpy_augment_one(img, int(s)) for img, s in zip(batch, seeds, strict=True)]
    else:
        from joblib import Parallel, delayed

        prefer = "threads" if joblib == "threads" else "processes"
        done = Parallel(n_jobs=n_jobs, prefer=prefer)(
            delayed(numpy_augment_one)(img, int(s)) for img, s in zip(batch, seeds, strict=True))
    return np.stack(done).astype(np.float32)


def numpy_augment_one(image: np.ndarray, seed: int) -> np.ndarray:
    """Flip, rotate, zoom and shift the brightness of one image, with NumPy and tf_keras."""
    from tf_keras.preprocessing.image import random_rotation, random_zoom

    rng = np.random.default_rng(seed)
    np.random.seed(seed % 2**32)  # tf_keras' random_* draw from NumPy's global state
    kwargs = {"row_axis": 0, "col_axis": 1, "channel_axis": 2, "fill_mode": "nearest"}
    if rng.random() < 0.5:
        image = image[:, ::-1]
    image = random_rotation(image, RECIPE["rotation_deg"], **kwargs)
    image = random_zoom(image, (1 - RECIPE["zoom"], 1 + RECIPE["zoom"]), **kwargs)
    shift = rng.uniform(-RECIPE["brightness"], RECIPE["brightness"])
    return np.clip(image + shift, 0.0, 1.0)


def keras_layers(seed: int):
    """The recipe as Keras preprocessing layers (in the model for `keras_layers`, in `map` for
    `keras_layers_map`)."""
    import keras

    return [
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(RECIPE["rotation_deg"] / 360, fill_mode="nearest", seed=seed + 1),
        keras.layers.RandomZoom(RECIPE["zoom"], fill_mode="nearest", seed=seed + 2),
        keras.layers.RandomBrightness(RECIPE["brightness"], value_range=(0.0, 1.0), seed=seed + 3),
    ]


def in_layers(layers, images):
    """`images` through the layers in training mode (random), as a tf.data map calls them."""
    for layer in layers:
        images = layer(images, training=True)
    return images


def idg_arguments() -> dict:
    """The recipe as ImageDataGenerator's arguments (brightness: a factor on 0-255, see above)."""
    return {"rotation_range": RECIPE["rotation_deg"], "zoom_range": RECIPE["zoom"],
            "horizontal_flip": True, "fill_mode": "nearest",
            "brightness_range": (1 - RECIPE["brightness"], 1 + RECIPE["brightness"])}
