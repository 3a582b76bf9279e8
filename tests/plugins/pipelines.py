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
