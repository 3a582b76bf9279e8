"""Measurement modes checked against known answers, without asserting wall-clock speed.

A pipeline whose per-element cost is fixed (a sleep in `map`) implies its own
rate; the `pipeline` mode must find it. A pipeline slower than the simulated
step must come out input-bound with the AU the two rates imply.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench import modes
from bench.results import cell_metrics, verdict
from pipelines.base import FitInput

IMAGE = (8, 8)
BATCH = 8


def slow_pipeline(count: int, cost_s: float, prefetch: int = 0):
    """`count` tiny images, each costing `cost_s` of (calibrated) sleep in a sequential map."""
    import tensorflow as tf

    request_s = modes.calibrated_sleep(cost_s)

    def sleepy(x, y):
        def pause(value):
            time.sleep(request_s)
            return value

        x = tf.py_function(pause, [x], tf.float32)
        x.set_shape((*IMAGE, 3))
        return x, y

    images = np.zeros((count, *IMAGE, 3), np.float32)
    labels = np.zeros(count, np.int32)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).map(sleepy, num_parallel_calls=1)
    ds = ds.batch(BATCH)
    return FitInput(x=ds.prefetch(prefetch) if prefetch else ds)


def settings(count: int, step_s: float = 0.0) -> modes.ModeSettings:
    return modes.ModeSettings(image_size=IMAGE, num_classes=2, batch_size=BATCH, num_train=count,
                              probe_epochs=2, step_s=step_s)


def test_pipeline_mode_finds_the_rate_a_fixed_cost_implies():
    cost_s, count = 0.05, 32  # no prefetch: any cost the harness adds per batch would show
    results = [modes.run_pipeline(slow_pipeline(count, cost_s), settings(count)) for _ in range(3)]
    median = float(np.median([r["images_per_sec"] for r in results]))  # as the harness reports trials
    assert median == pytest.approx(1.0 / cost_s, rel=0.05)
    assert all([e["images"] for e in r["epochs"]] == [count, count] for r in results)


def test_pipeline_mode_agrees_with_tfds_benchmark():
    tfds = pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets is not installed")
    cost_s, count = 0.05, 32
    ours = modes.run_pipeline(slow_pipeline(count, cost_s), settings(count))["images_per_sec"]
    ds = slow_pipeline(count, cost_s).x.unbatch()
    stats = tfds.benchmark(ds, num_iter=count, batch_size=1)
    assert ours == pytest.approx(stats.stats["examples/sec"].iloc[0], rel=0.05)


def test_a_pipeline_slower_than_the_step_is_input_bound_with_the_implied_au():
    """Input: 80 ms of sleep per batch; accelerator: 40 ms per batch; so AU = 0.5.

    The sleep runs in a `tf.py_function`, which a loaded machine (a full test
    suite) can only make slower, never faster: AU may fall below 0.5, not rise
    above it. Hence a one-sided tolerance, and a floor at half the implied AU.
    """
    cost_s, count, step_s = 0.01, 64, 0.04
    result = modes.run_simulated(slow_pipeline(count, cost_s, prefetch=2), settings(count, step_s))
    implied_au = step_s / (BATCH * cost_s)
    assert implied_au / 2 <= result["au"] <= implied_au + 0.08
    assert result["au"] < 0.9


def test_a_pipeline_faster_than_the_step_keeps_the_accelerator_busy():
    cost_s, count, step_s = 0.0005, 64, 0.04  # input: 4 ms per batch, accelerator: 40 ms
    result = modes.run_simulated(slow_pipeline(count, cost_s, prefetch=2), settings(count, step_s))
    assert result["au"] >= 0.9
    assert result["images_per_sec"] == pytest.approx(BATCH / step_s, rel=0.1)


def test_calibrated_sleep_hits_its_target_on_average():
    request = modes.calibrated_sleep(0.01)
    start = time.perf_counter()
    for _ in range(20):
        time.sleep(request)
    assert (time.perf_counter() - start) / 20 == pytest.approx(0.01, rel=0.1)


@pytest.mark.parametrize("stall, expected", [
    (0.0, "not input-bound"), (4.9, "not input-bound"), (5.0, "moderately input-bound"),
    (20.0, "moderately input-bound"), (20.1, "highly input-bound"), (None, None),
])
def test_verdict_uses_the_profiler_thresholds(stall, expected):
    assert verdict(stall) == expected


def fake_run(mode, trial, rate, **extra):
    return {"mode": mode, "trial": trial, "status": "ok", "images_per_sec": rate, "epochs": [], **extra}


def test_cell_metrics_from_raw_runs():
    runs = [fake_run("train", t, r) for t, r in enumerate((70.0, 68.0, 72.0))]
    runs += [fake_run("model_only", t, r) for t, r in enumerate((100.0, 101.0, 99.0))]
    runs += [fake_run("simulated", t, 50.0, au=a) for t, a in enumerate((0.5, 0.6, 0.7))]
    runs[0]["epochs"] = [{"epoch": 1, "val_accuracy": 0.3, "wall_s": 5.0},
                         {"epoch": 2, "val_accuracy": 0.6, "wall_s": 9.0}]
    runs[1]["epochs"] = [{"epoch": 1, "val_accuracy": 0.7, "wall_s": 4.0}]
    runs[2]["epochs"] = [{"epoch": 1, "val_accuracy": 0.55, "wall_s": 6.0}]
    metrics = cell_metrics({"runs": runs}, target=0.5)
    assert metrics["stall_percent"] == pytest.approx(30.0)
    assert metrics["input_bound"] == "highly input-bound"
    assert metrics["au_percent"] == pytest.approx(60.0)
    assert metrics["time_to_accuracy_s"] == pytest.approx(6.0)
    runs[2]["epochs"] = [{"epoch": 1, "val_accuracy": 0.2, "wall_s": 6.0}]
    assert cell_metrics({"runs": runs}, target=0.5)["time_to_accuracy_s"] is None  # not reached
