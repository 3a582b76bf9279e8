"""Pipelines whose cost is known, to check the measuring method against answers known in advance.

* `sleep_per_image`: each image costs a calibrated sleep inside `tf.py_function`
  in a sequential map, so its rate is implied by its cost (theory);
* `python_per_batch`: each batch costs a Python loop inside `tf.py_function`, which
  holds the GIL, as NumPy augmentation does (the case where a harness's own Python
  threads could steal time).

* `sleep_per_batch`: each batch costs a calibrated sleep: two of them have the rate
  ratio their costs state (an A/B pair with a known answer);
* `same_as_tf_data_tuned`: a `--pipeline` function returning exactly `tf_data_tuned`'s
  dataset, so that a run holds an A/A pair;
* `same_as_tf_data_naive` (and its copies `naive_copy_1` .. `naive_copy_8`) and
  `naive_plus_cpu`: the cost A/A and A/B pairs of `tools/cost_check.py`, the second with a
  stated extra work per image (matrix products), whose own cost `extra_cpu_us_per_image`
  measures apart.

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


def sleeping(cost_s: float, shape, request_s: float | None = None, slept: list | None = None):
    """A tf.data map function that sleeps `cost_s` in `tf.py_function` per element.

    The sleep is calibrated here unless `request_s` (the argument to `time.sleep`) is given:
    two pipelines that must cost the same, read in turn, share one calibration, since two
    calibrations taken seconds apart on a busy machine differ by a few percent. `slept`, if
    given, gets (start, seconds) of each sleep as it really happened: the cost as it was, and
    when each element's work began, not as it was asked for.
    """
    import tensorflow as tf

    from bench.run.modes import calibrated_sleep

    request_s = calibrated_sleep(cost_s) if request_s is None else request_s

    def pause(value):
        started = time.perf_counter()
        time.sleep(request_s)
        if slept is not None:
            slept.append((started, time.perf_counter() - started))
        return value

    def costly(x, y):
        x = tf.py_function(pause, [x], tf.float32)
        x.set_shape(shape)
        return x, y

    return costly


def sleep_per_image(count: int, cost_s: float, batch: int = BATCH, prefetch: int = 0, image=IMAGE,
                    request_s: float | None = None, slept: list | None = None):
    """`count` images, each costing `cost_s` of calibrated sleep in a sequential py_function map
    (`slept`: see `sleeping`)."""
    costly = sleeping(cost_s, (*image, 3), request_s, slept)
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


def as_built_in(name: str, request):
    """`request` with the built-in variant `name`'s default options (a `--pipeline` has none)."""
    from dataclasses import replace

    from pipelines.base import get_variant, options_for

    return replace(request, options=options_for(get_variant(name), {}))


def same_as_tf_data_tuned(request):
    """Exactly `tf_data_tuned`'s dataset under another name: one half of an A/A pair."""
    from pipelines.base import get_variant

    return get_variant("tf_data_tuned").build(as_built_in("tf_data_tuned", request))


def same_as_tf_data_naive(request):
    """Exactly `tf_data_naive`'s dataset under another name: one half of a cost A/A pair."""
    from pipelines.base import get_variant

    return get_variant("tf_data_naive").build(as_built_in("tf_data_naive", request))


# Copies under other names, so that one run holds several A/A pairs with one baseline
# (`--pipeline bench.run.known_cost:naive_copy_1 ...`, `pipebench validate cost`).
naive_copy_1 = naive_copy_2 = naive_copy_3 = naive_copy_4 = same_as_tf_data_naive
naive_copy_5 = naive_copy_6 = naive_copy_7 = naive_copy_8 = same_as_tf_data_naive

EXTRA_MATMULS = 24  # the stated extra work per image of `naive_plus_cpu`: 32x32 matrix products


def with_extra_cpu(dataset, matmuls: int = EXTRA_MATMULS):
    """`dataset` with `matmuls` chained 32x32 matrix products per element, in TensorFlow ops
    (no Python, so no GIL: their cost does not depend on what the main thread does), made from
    the element itself so that no optimisation can fold them away; the element is unchanged."""
    import tensorflow as tf

    def costly(x, y):
        a = tf.image.resize(x, (32, 32))[:, :, 0]
        for _ in range(matmuls):
            a = tf.linalg.matmul(a, a) * 1e-3
        return x + 0.0 * tf.reduce_sum(a), y

    return dataset.map(costly, num_parallel_calls=1)


def naive_plus_cpu(request):
    """`tf_data_naive` with `EXTRA_MATMULS` more work per image, after its decode and before its
    batching (the rest exactly as `tf_data_naive` builds it): a cost A/B pair."""
    from pipelines.tfdata import finish, read_decode
    from pipelines.tfops import file_pairs

    request = as_built_in("tf_data_naive", request)
    decoded = with_extra_cpu(read_decode(file_pairs(request.spec), request), EXTRA_MATMULS)
    return finish(decoded, request, len(request.spec.train_files))


def extra_cpu_us_per_image(count: int = 2000, matmuls: int = EXTRA_MATMULS, image=(32, 32),
                           repeats: int = 7) -> float:
    """The extra work's own CPU µs per element, measured apart: tiny in-memory elements mapped by
    it and batched, minus the same pipeline without the map; paired over `repeats` interleaved
    passes of each (after a warm pass), the median difference."""
    import numpy as np

    def pipeline(with_work: bool):
        ds = tiny(count, image)
        return (with_extra_cpu(ds, matmuls) if with_work else ds).batch(BATCH)

    def cost(ds) -> float:
        started = time.process_time()
        for _ in ds:
            pass
        return (time.process_time() - started) / count * 1e6

    worked, plain = pipeline(True), pipeline(False)
    cost(worked), cost(plain)  # warm: tracing, first calls
    return float(np.median([cost(worked) - cost(plain) for _ in range(repeats)]))
