"""User pipelines for the tests, loaded with `--pipeline plugins.pipelines:NAME`."""

from __future__ import annotations

import numpy as np

from pipelines.base import FitInput
from pipelines.decode import decode_all, load_path


def good(request):
    """A plain user tf.data pipeline over the spec's files."""
    import tensorflow as tf

    spec = request.spec
    ds = tf.data.Dataset.from_tensor_slices((list(spec.train_files), list(spec.train_labels)))
    ds = ds.map(lambda p, y: load_path(p, y, spec.image_size), num_parallel_calls=2)
    return ds.batch(request.batch_size).prefetch(1)


def broken(request):
    """Fails at run time, as a buggy user pipeline would."""
    raise RuntimeError("this pipeline is broken on purpose")


def runs_dry(request):
    """The ImageDataGenerator trap: a finite generator with steps_per_epoch beyond its data."""
    spec = request.spec
    images = decode_all(spec.train_files, spec.image_size)
    labels = np.asarray(spec.train_labels, np.int32)
    half = len(labels) // 2

    def batches():
        for start in range(0, half, request.batch_size):
            stop = min(start + request.batch_size, half)
            yield images[start:stop], labels[start:stop]

    steps = -(-len(labels) // request.batch_size)
    return FitInput(x=batches(), steps_per_epoch=steps)


def hangs(request):
    """Never returns, like a PyDataset worker stuck at the end of an epoch."""
    import time

    time.sleep(3600)


SLOW_RESIZE_S = 0.003  # per image: far above every other stage of this pipeline


def _slow_resize_map(request):
    """A resize that also sleeps in Python per image: slow on purpose, and bound by the GIL."""
    import time

    import tensorflow as tf

    def sleep_then(image):
        time.sleep(SLOW_RESIZE_S)
        return image

    def resize(image, label):
        image = tf.image.resize(tf.cast(image, tf.float32), request.spec.image_size) / 255.0
        slowed = tf.py_function(sleep_then, [image], tf.float32)
        return tf.ensure_shape(slowed, (*request.spec.image_size, 3)), label

    return resize


def slow_resize(request):
    """A user pipeline whose resize stage is slow on purpose (see `slow_resize.stages`)."""
    import tensorflow as tf

    spec = request.spec
    ds = tf.data.Dataset.from_tensor_slices((list(spec.train_files), list(spec.train_labels)))
    ds = ds.map(lambda p, y: (tf.io.decode_image(tf.io.read_file(p), channels=3, expand_animations=False), y))
    return ds.map(_slow_resize_map(request)).batch(request.batch_size)


def _slow_resize_stages(request):
    import tensorflow as tf

    from pipelines.stages import Stage, tf_drain

    spec = request.spec
    source = tf.data.Dataset.from_tensor_slices((list(spec.train_files), list(spec.train_labels)))
    return source, [
        Stage("list", lambda ds: ds),
        Stage("read", element=lambda p, y: (tf.io.read_file(p), y)),
        Stage("decode", element=lambda c, y: (tf.io.decode_image(c, channels=3, expand_animations=False), y)),
        Stage("resize", element=_slow_resize_map(request), python=True),
        Stage("batch", lambda ds: ds.batch(request.batch_size)),
    ], tf_drain


slow_resize.stages = _slow_resize_stages
