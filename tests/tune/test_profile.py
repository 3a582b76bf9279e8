"""Stage profiles, sweeps, verified advice and the TensorBoard trace, run as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.results.tune_records import TUNE_SCHEMA_VERSION, load_tune_record
from bench.tune.breakdown import StageCost, bottleneck, stage_costs
from tests.helpers.cli import run_cli, run_main

SLOW = "custom:plugins.pipelines:slow_resize"


def only_json(folder: Path, name: str) -> dict:
    return json.loads(next(folder.glob(f"*/{name}")).read_text())


def test_stage_costs_are_prefix_differences_and_the_slowest_rate_wins():
    measured = [("list", False, 1e-6, 1e-6), ("decode", False, 301e-6, 201e-6),
                ("augment", True, 1301e-6, 1201e-6), ("batch", False, 1300e-6, 1200e-6)]
    costs = stage_costs(measured, cores=4)
    assert [round(c.wall_us_per_image) for c in costs] == [1, 300, 1000, 0]
    assert costs[1].rate_images_per_sec == pytest.approx(4 / 200e-6)  # TF ops: every core
    assert costs[2].rate_images_per_sec == pytest.approx(1 / 1000e-6)  # Python: one core
    assert costs[3].rate_images_per_sec is None  # too cheap to rate
    assert bottleneck(costs).name == "augment"
    assert isinstance(costs[0], StageCost)


@pytest.fixture(scope="module")
def slow_profile(tmp_path_factory):
    """One `profile --no-verify --trace` of a pipeline slow on purpose in its resize stage (on the
    quick preset's 240 images: on the tiny dataset's 48 a noisy machine once named decode)."""
    results = tmp_path_factory.mktemp("slow-profile")
    result = run_cli("profile", "--variant", SLOW, "--preset", "quick", "--no-verify", "--trace",
                     "--results-dir", str(results))
    assert result.returncode == 0, result.stderr[-3000:]
    return result, results


def test_profile_names_the_stage_made_slow_on_purpose(slow_profile):
    result, tmp_path = slow_profile
    record = only_json(tmp_path, "profile.json")
    assert record["bottleneck"] == "resize"
    assert [s["name"] for s in record["stages"]] == ["list", "read", "decode", "resize", "batch"]
    assert "bottleneck: resize" in result.stdout
    assert any(a["rule"] == "gil_bound" for a in record["advice"])
    html = next(tmp_path.glob("*/profile.html")).read_text()
    assert 'class="bottleneck"><td class="text">resize</td>' in html and 'id="fig-stages"' in html
    typed = load_tune_record(next(tmp_path.glob("*/profile.json")))
    assert record["schema_version"] == TUNE_SCHEMA_VERSION and typed.kind == "profile"
    assert typed.config.variant == SLOW and typed.body["bottleneck"] == "resize"


def test_naive_advice_is_verified_by_measurement(naive_profile):
    record, result, _ = naive_profile
    rules = {a["rule"] for a in record["verified"]}
    assert {"parallelise", "cache_after_decode", "prefetch"} <= rules
    assert len(record["rounds"]) == 8 and len({tuple(order) for order in record["rounds"]}) > 1, \
        "every configuration once per round, in orders shuffled per round"
    for item in record["verified"]:
        for side in ("before", "after"):
            samples = item[side]["samples"]
            assert [s["round"] for s in samples] == list(range(8)) and item[side]["median"] > 0
            # calibrated once (--min-sample-s 0.1), then the same repeats every round; calibrated on a
            # busy machine, one sample in a quiet second can last under half of that, not the median
            assert len({s["loops"] for s in samples}) == 1, "loops fixed by calibration"
            seconds = [s["seconds"] for s in samples]
            assert np.median(seconds) >= 0.1 * 0.5, "calibrated samples, not single epochs"
        ratios = [a["images_per_sec"] / b["images_per_sec"]
                  for a, b in zip(item["after"]["samples"], item["before"]["samples"], strict=True)]
        assert item["measured_gain"] == pytest.approx(float(np.median(ratios)))  # paired, per round
        assert item["comparison"]["test"].startswith("exact two-sided Wilcoxon")
    cache = next(i for i in record["verified"] if i["rule"] == "cache_after_decode")
    assert cache["comparison"]["verdict"] == "faster", "decoding every epoch vs reading from memory"
    assert "advice [cache_after_decode]" in result.stdout and "measured" in result.stdout


def test_naive_advice_applied_reaches_the_tuned_preset_within_noise(naive_profile):
    record, _, _ = naive_profile
    combined, tuned = record["combined"], record["reference"]
    assert combined["overrides"] == {"parallel_calls": "autotune", "cache": "memory", "prefetch": "autotune"}
    assert tuned["variant"] == "tf_data_tuned"
    # reached: the paired test does not find the combined changes slower than the tuned preset
    versus = next(c for c in record["comparisons"]
                  if c["subject"] == "combined" and c["reference"] == "reference")
    assert versus["verdict"] != "slower", versus


@pytest.mark.slow
def test_sweep_measures_every_value_and_picks_the_best(tmp_path, tiny_dirs):
    result = run_cli("sweep", "--variant", "tf_data_naive", "--knobs", "parallel_calls,cache",
                     "--preset", "quick", *tiny_dirs, "--min-sample-s", "0.1", "--rounds", "3",
                     "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    record = only_json(tmp_path, "sweep.json")
    values = [(p["knob"], p["value"]) for p in record["points"]]
    assert values == [("parallel_calls", v) for v in ("1", "2", "4", "autotune")] + \
        [("cache", v) for v in ("none", "memory", "disk")]
    for knob in ("parallel_calls", "cache"):
        best = max((p for p in record["points"] if p["knob"] == knob), key=lambda p: p["median"])
        assert record["best"][knob]["value"] == best["value"]
    assert len(record["rounds"]) == 3 and all(len(p["samples"]) == 3 for p in record["points"])
    assert all(p["comparison"]["reference"] == "current" and p["comparison"]["n"] == 3
               for p in record["points"])
    assert "each value against the variant as configured" in result.stdout
    assert 'id="fig-sweep"' in next(tmp_path.glob("*/profile.html")).read_text()


def test_trace_writes_a_tensorboard_profile(slow_profile):
    _, tmp_path = slow_profile
    record = only_json(tmp_path, "profile.json")
    assert list(Path(record["trace_dir"]).rglob("*.xplane.pb"))


@pytest.mark.parametrize("args, fragment", [
    (("--variant", "tf_data_service"), "cannot be split into stages; profile one of:"),
    (("--variant", "tf_dta"), "unknown variant 'tf_dta'"),
    (("--variant", "generator", "--knobs", "cache"), None),
])
def test_bad_profile_requests_are_one_line(tmp_path, args, fragment):
    command = "sweep" if "--knobs" in args else "profile"
    result = run_main(command, *args, "--preset", "quick", "--results-dir", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("pipebench: error: ")
    assert (fragment or "knob 'cache' does not apply to generator") in lines[-1]


def test_au_under_90_percent_names_the_stage_to_fix_first():
    from bench.tune.advice import advise
    from pipelines import get_variant

    profile = {"variant": "tf_data_naive", "bottleneck": "decode", "cores": 2, "au": 0.62,
               "pipeline_images_per_sec": 600.0,
               "stages": [{"name": "read", "wall_us_per_image": 100.0, "cpu_us_per_image": 100.0,
                           "python": False, "rate_images_per_sec": 20000.0},
                          {"name": "decode", "wall_us_per_image": 1500.0, "cpu_us_per_image": 1500.0,
                           "python": False, "rate_images_per_sec": 1333.0}]}
    options = {"parallel_calls": 1, "cache": "none", "prefetch": 0}
    found = advise(profile, get_variant("tf_data_naive"), options, "none", fits_in_memory=False,
                   target_rate=1000.0)
    au = next(a for a in found if a.rule == "au_below_target")
    assert "AU is 62% at 1000 images/s" in au.message
    assert "fix stage decode first, by parallelise" in au.message
    assert au.overrides == {"parallel_calls": "autotune"} and au.mode == "simulated"
    assert au.predicted_images_per_sec == 1000.0  # capped at the target: 600 x 1600 / 800 = 1200
