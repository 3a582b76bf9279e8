"""Pipelines whose cost is known, to check the measuring method against answers known in advance.

* `sleep_per_image`: each image costs a calibrated sleep inside `tf.py_function`
  in a sequential map, so its rate is implied by its cost (theory);
* `python_per_batch`: each batch costs a Python loop inside `tf.py_function`, which
  holds the GIL, as NumPy augmentation does (the case where a harness's own Python
  threads could steal time).

* `sleep_per_batch`: each batch costs a calibrated sleep: two of them have the rate
  ratio their costs state (an A/B pair with a known answer);
* `same_as_tf_data_tuned`: a `--pipeline` function returning exactly `tf_data_tuned`'s
  dataset, so that a run holds an A/A pair.

All but the last are tiny images in tf.data, used by the tests,
`tools/peer_check.py` (against tfds.benchmark) and `tools/aa_check.py`.
"""

from __future__ import annotations

import time

import numpy as np

IMAGE = (8, 8)
BATCH = 8


def tiny(count: int, image=IMAGE):
    """`count` blank images of `image` size with label 0, as a tf.data dataset."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(
        (np.zeros((count, *image, 3), np.float32), np.zeros(count, np.int32)))


def sleeping(cost_s: float, shape, request_s: float | None = None):
    """A tf.data map function that sleeps `cost_s` in `tf.py_function` per element.

    The sleep is calibrated here unless `request_s` (the argument to `time.sleep`) is given:
    two pipelines that must cost the same, read in turn, share one calibration, since two
    calibrations taken seconds apart on a busy machine differ by a few percent.
    """
    import tensorflow as tf

    from bench.run.modes import calibrated_sleep

    request_s = calibrated_sleep(cost_s) if request_s is None else request_s

    def pause(value):
        time.sleep(request_s)
        return value

    def costly(x, y):
        x = tf.py_function(pause, [x], tf.float32)
        x.set_shape(shape)
        return x, y

    return costly


def sleep_per_image(count: int, cost_s: float, batch: int = BATCH, prefetch: int = 0, image=IMAGE,
                    request_s: float | None = None):
    """`count` images, each costing `cost_s` of calibrated sleep in a sequential py_function map."""
    costly = sleeping(cost_s, (*image, 3), request_s)
    ds = tiny(count, image).map(costly, num_parallel_calls=1).batch(batch)
    return ds.prefetch(prefetch) if prefetch else ds


def python_per_batch(count: int, loops: int, batch: int = BATCH):
    """`count` images in batches, each batch costing a Python loop of `loops` steps (holds the GIL)."""
    import tensorflow as tf

    def work(x):
        total = 0
        for i in range(loops):
            total += i * i
        return x + (total % 2)

    def batch_cost(x, y):
        x = tf.py_function(work, [x], tf.float32)
        x.set_shape((None, *IMAGE, 3))
        return x, y

    return tiny(count).batch(batch).map(batch_cost, num_parallel_calls=1)


def sleep_per_batch(count: int, cost_s: float, batch: int = BATCH):
    """`count` tiny images in batches, each batch costing `cost_s` of calibrated sleep.

    A per-batch cost of tens of ms dwarfs the per-call overhead of `tf.py_function`
    (about 0.1 ms), so two such pipelines have the rate ratio their costs state.
    """
    return tiny(count).batch(batch).map(sleeping(cost_s, (None, *IMAGE, 3)), num_parallel_calls=1)


def same_as_tf_data_tuned(request):
    """Exactly `tf_data_tuned`'s dataset under another name: one half of an A/A pair."""
    from dataclasses import replace

    from pipelines.base import get_variant, options_for

    tuned = get_variant("tf_data_tuned")
    return tuned.build(replace(request, options=options_for(tuned, {})))
