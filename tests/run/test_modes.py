"""Measurement modes checked against known answers, without asserting wall-clock speed.

A pipeline whose per-element cost is fixed (a sleep in `map`) implies its own
rate; the `pipeline` mode must find it. A pipeline slower than the simulated
step must come out input-bound with the AU the two rates imply.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench.results.analysis import cell_stats, verdict
from bench.results.records import CellResult
from bench.run import known_cost, modes
from pipelines.base import FitInput

IMAGE = (8, 8)
BATCH = 8


def slow_pipeline(count: int, cost_s: float, prefetch: int = 0):
    """`count` tiny images, each costing `cost_s` of (calibrated) sleep in a sequential map."""
    return FitInput(x=known_cost.sleep_per_image(count, cost_s, BATCH, prefetch))


def settings(count: int, step_s: float = 0.0) -> modes.ModeSettings:
    return modes.ModeSettings(image_size=IMAGE, num_classes=2, batch_size=BATCH, num_train=count,
                              step_s=step_s, min_sample_s=0.1)


@pytest.mark.timing  # a rate against a known answer
def test_pipeline_mode_finds_the_rate_a_fixed_cost_implies():
    """The theory is the pipeline's own period per element, as it was during these reads: the
    median gap between the starts of consecutive elements' work. Against the cost asked for
    (1 / 30 ms) this failed CI twice (30.7 and 31.7 images/s against 33.3, -8% and -5%): the
    sleeps lasted 30.0 ms, but each element also pays `tf.py_function` and tf.data's hand-offs,
    about 1.1 ms on the idle 2-core VM and 0.7 ms beside a CPU-bound process (2026-12-02),
    and with that period the rate came out 0.6-2.4% below its theory."""
    cost_s, count = 0.03, 32  # no prefetch: any cost the harness adds per batch would show
    slept: list[tuple[float, float]] = []
    results = [modes.run_pipeline(FitInput(x=known_cost.sleep_per_image(count, cost_s, BATCH, slept=slept)),
                                  settings(count), 1) for _ in range(3)]
    median = float(np.median([r["images_per_sec"] for r in results]))  # as the harness reports trials
    assert len(slept) == 3 * 2 * count  # three reads of a warm-up and a timed epoch
    period_s = float(np.median(np.diff([start for start, _ in slept])))  # 7 of 8 gaps lie inside a batch
    assert median == pytest.approx(1.0 / period_s, rel=0.05)
    assert float(np.median([seconds for _, seconds in slept])) == pytest.approx(cost_s, rel=0.05)
    assert period_s == pytest.approx(cost_s, rel=0.10)  # still a fixed-cost pipeline: the sleep dominates
    assert all([e["images"] for e in r["epochs"]] == [count, count] for r in results)


@pytest.mark.timing  # a rate against a known answer
@pytest.mark.parametrize("case, rounds, tolerance", [
    # Single rounds here spread by +-5% (+-10% in a busy minute). Medians of 9 rounds from fresh
    # processes, sleep calibrated once per pair: 0.994-1.021 over 8 runs (2026-11-21), so 2% failed
    # about one CI run in five. The median of 11 within 3% would still, in most runs, fail
    # the 4% bias of issue 14.
    ("sleep-per-image", 11, 0.03),
    # CPU-bound and holding the GIL: on the 2-core VM single rounds of this pair spread by
    # +-20-35% (docs/measurements.md; 0.84-1.34 over 15 rounds on 2026-11-22), and the median
    # of 5 reached 1.24 once: the median of 9 within 20% is a check for a gross bias only
    ("python-per-batch", 9, 0.20),
])
def test_pipeline_mode_agrees_with_tfds_benchmark(case, rounds, tolerance):
    """Paired, in alternating rounds, in a fresh process: the median ratio of pipebench's pipeline
    mode to tfds.benchmark (tests/helpers/peer.py)."""
    import json
    import subprocess
    import sys

    from tests.helpers.cli import ROOT

    pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets is not installed")
    out = subprocess.run([sys.executable, "-m", "tests.helpers.peer", case, str(rounds)], capture_output=True,
                         text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    ratios = json.loads(out.stdout.strip().splitlines()[-1])
    assert float(np.median(ratios)) == pytest.approx(1.0, abs=tolerance), ratios


@pytest.mark.timing  # a rate against a known answer
def test_a_pipeline_slower_than_the_step_is_input_bound_with_the_implied_au():
    """Input: 80 ms of sleep per batch; accelerator: 40 ms per batch; so AU = 0.5.

    The sleep runs in a `tf.py_function`, which a loaded machine (a full test
    suite) can only make slower, never faster: AU may fall below 0.5, not rise
    above it. Hence a one-sided tolerance, and a floor at half the implied AU.
    """
    cost_s, count, step_s = 0.01, 64, 0.04
    result = modes.run_simulated(slow_pipeline(count, cost_s, prefetch=2), settings(count, step_s), 1)
    implied_au = step_s / (BATCH * cost_s)
    assert implied_au / 2 <= result["au"] <= implied_au + 0.08
    assert result["au"] < 0.9


@pytest.mark.timing  # a rate against a known answer
def test_a_pipeline_faster_than_the_step_keeps_the_accelerator_busy():
    cost_s, count, step_s = 0.0005, 64, 0.04  # input: 4 ms per batch, accelerator: 40 ms
    result = modes.run_simulated(slow_pipeline(count, cost_s, prefetch=2), settings(count, step_s), 1)
    assert result["au"] >= 0.9
    assert result["images_per_sec"] == pytest.approx(BATCH / step_s, rel=0.1)


@pytest.mark.timing  # a rate against a known answer
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


def fake_run(mode, round_, rate, **extra):
    return {"mode": mode, "round": round_, "status": "ok", "images_per_sec": rate, "epochs": [], **extra}


def test_cell_figures_are_paired_by_round():
    """Stall is 1 - train / model_only of the same round, never a ratio of medians; not clamped."""
    runs = [fake_run("train", r, rate) for r, rate in enumerate((70.0, 110.0, 36.0))]
    runs += [fake_run("model_only", r, rate) for r, rate in enumerate((100.0, 100.0, 40.0))]
    runs += [fake_run("simulated", r, 50.0, au=a) for r, a in enumerate((0.5, 0.6, 0.7))]
    runs[0]["epochs"] = [{"epoch": 1, "val_accuracy": 0.3, "wall_s": 5.0},
                         {"epoch": 2, "val_accuracy": 0.6, "wall_s": 9.0}]
    runs[1]["epochs"] = [{"epoch": 1, "val_accuracy": 0.7, "wall_s": 4.0}]
    runs[2]["epochs"] = [{"epoch": 1, "val_accuracy": 0.55, "wall_s": 6.0}]
    stats = cell_stats(CellResult.from_dict({"variant": "x", "precision": "float32", "augmentation": "none",
                                             "status": "ok", "runs": runs}), target=0.5)
    assert sorted(stats.stall.to_dict()[k] for k in ("low", "median", "high")) == pytest.approx([-10, 10, 30])
    assert stats.stall.coverage == pytest.approx(0.75)  # the range of 3: a 75% interval, and it says so
    assert stats.input_bound == "moderately input-bound"
    assert stats.au.median == pytest.approx(60.0)
    assert stats.time_to_accuracy_s == pytest.approx(6.0)
    assert stats.val_accuracy == pytest.approx(0.6)
