"""AUTOTUNE's choices, read from TensorFlow's profiler trace with the protobuf library alone."""

from __future__ import annotations

import pytest

tf = pytest.importorskip("tensorflow")

from bench.run.autotune_trace import traced_choices  # noqa: E402


def pipeline(parallel, prefetch):
    ds = tf.data.Dataset.range(4096).map(lambda x: tf.cast(x, tf.float32) * 2.0, num_parallel_calls=parallel)
    return ds.batch(32).prefetch(prefetch)


def test_autotuned_ops_report_their_parallelism_and_buffer():
    found = {(c.op.rsplit("::", 1)[-1], c.setting): c for c in traced_choices(pipeline(tf.data.AUTOTUNE,
                                                                                        tf.data.AUTOTUNE))}
    parallel = [c for (op, s), c in found.items() if s == "parallelism"]
    assert parallel and all(1 <= c.low <= c.median <= c.high for c in parallel)
    assert ("Prefetch", "buffer_limit") in found and found[("Prefetch", "buffer_limit")].events > 0


def test_fixed_settings_are_not_reported_as_autotuned():
    """A map with num_parallel_calls=3 and a prefetch of 2: nothing was chosen by AUTOTUNE."""
    assert traced_choices(pipeline(3, 2)) == []
