"""`pipebench validate CHECK`: every check runs with tiny settings and writes what it found.

Tiny settings show that a check works end to end (real runs, real pipelines, its file),
not this machine's figures, so no test asserts whether a noisy known answer held: it
asserts that the check's verdict is the one its own figures imply, and the exit status
with it. Where the answer is exact (a run against itself), it is asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.validate import CHECKS
from bench.validate.common import Finding
from bench.validate.speed import FALSE_CLAIMS_ALLOWED
from tests.helpers.cli import TINY_ARGS, assert_one_line_error, run_main


def validate(tmp_path: Path, check: str, *args: str) -> tuple[object, dict]:
    """Run the check in this process (the same path as the command); its result and validate.json."""
    result = run_main("validate", check, "--results-dir", str(tmp_path), *args)
    assert result.returncode in (0, 1), result.stderr
    made = list(tmp_path.glob(f"validate-{check}-*/validate.json"))
    assert len(made) == 1, result.stdout
    doc = json.loads(made[0].read_text())
    assert doc["schema_version"] == 1 and doc["check"] == check
    assert doc["machine"] and doc["seconds"] >= 0 and doc["created"]
    printed = result.stdout.rstrip("\n").splitlines()
    assert printed[-len(doc["lines"]) - 1:-1] == doc["lines"]  # what it printed is what it kept
    assert printed[-1].startswith(f"{check}: ") and "validate.json" in printed[-1]
    assert result.returncode == (1 if doc["held"] is False else 0)
    assert Finding.from_dict(doc).held == doc["held"]
    return result, doc


def tiny(check: str) -> list[str]:
    module = __import__(CHECKS[check][0], fromlist=["TINY"])
    return list(module.TINY)


def test_every_check_has_a_module_with_tiny_settings_and_a_docstring():
    for name, (module_name, line) in CHECKS.items():
        module = __import__(module_name, fromlist=["run"])
        assert callable(module.run) and callable(module.add_arguments) and isinstance(module.TINY, list)
        assert module.__doc__ and line, name


def test_an_unknown_check_is_a_one_line_error():
    assert_one_line_error(run_main("validate", "nope"), "unknown check 'nope'", "aa", "realism")


def test_a_bad_option_of_a_check_is_a_one_line_error():
    assert_one_line_error(run_main("validate", "aa", "--runs", "many"), "--runs", "invalid int")


def test_aa_counts_every_mode_of_every_run_and_its_verdict_follows_its_figures(tmp_path):
    _, doc = validate(tmp_path, "aa", *tiny("aa"))
    figures = doc["figures"]
    assert len(figures["runs"]) == 1 and len(figures["aa"]) == 1  # one run, pipeline mode only
    assert {c["mode"] for c in figures["aa"]} == {"pipeline"}
    claims = sum(c["verdict"] in ("faster", "slower") for c in figures["aa"])
    assert figures["aa_false_claims"] == claims
    ab = figures["ab"]
    assert len(ab) == 1 and 0 < ab[0]["true_ratio"] < 1  # 45 ms per batch is slower than 30 ms
    assert figures["ab_hits"] == sum(a["verdict"] == "slower" and a["covers"] for a in ab)
    few_claims = claims <= FALSE_CLAIMS_ALLOWED * len(figures["aa"])
    assert doc["held"] == (few_claims and figures["ab_hits"] == len(ab))


def test_cost_compares_each_copy_and_the_costlier_one_with_the_baseline(tmp_path):
    _, doc = validate(tmp_path, "cost", *tiny("cost"))
    figures = doc["figures"]
    assert len(figures["aa"]) == 1 and len(figures["ab"]) == 1
    assert figures["extra_cpu_us_measured"] > 0 and figures["implied_ratio_apart"] > 1.0
    costlier = figures["ab"][0]
    assert costlier["verdict"] in ("costs more", "costs less", "within noise", "too few rounds")
    assert costlier["covers"] == (costlier["low"] is not None
                                  and costlier["low"] <= costlier["implied"] <= costlier["high"])


def test_band_places_the_faulty_pipeline_and_the_reference(tmp_path):
    _, doc = validate(tmp_path, "band", *tiny("band"))
    (one,) = doc["figures"]["runs"]
    assert set(one["learns_less"]) == {"tf_data_tuned", "custom:plugins.broken_data:label_noise_10"}
    caught = one["learns_less"]["custom:plugins.broken_data:label_noise_10"] and \
        not one["learns_less"]["tf_data_tuned"]
    assert doc["held"] == bool(caught)


def test_peer_reads_both_pipelines_both_ways(tmp_path):
    _, doc = validate(tmp_path, "peer", *tiny("peer"))
    cases = doc["figures"]
    assert len(cases) == 2
    for case in cases.values():
        assert set(case["samples"]) == {"pipebench", "first+lasts", "lasts", "lasts counted right"}
        assert all(len(v) == 2 and min(v) > 0 for v in case["samples"].values())
    assert doc["held"] == all(case["agrees"] for case in cases.values())


def test_sample_length_measures_every_mode_at_every_length(tmp_path):
    _, doc = validate(tmp_path, "sample-length", *tiny("sample-length"))
    rows = doc["figures"]["samples"]
    assert {(r["mode"], r["min_sample_s"]) for r in rows} == {(m, s) for m in ("model_only", "pipeline")
                                                             for s in (0.05, 0.1)}
    assert all(len(r["images_per_sec"]) == 2 for r in rows) and doc["held"] is None


def test_realism_decodes_both_sets_with_both_decoders(tmp_path):
    pytest.importorskip("skimage")
    _, doc = validate(tmp_path, "realism", *tiny("realism"))
    summary = doc["figures"]["summary"]
    assert set(summary) == {"tf.io decode + tf.image.resize", "PIL"}
    assert all(row["rounds"] == 2 and row["ratio"] > 0 for row in summary.values())
    assert len(doc["figures"]["samples"]) == 2 * 2 * 2  # rounds x decoders x sets


def test_check_scale_times_three_checks_and_a_scan(tmp_path):
    _, doc = validate(tmp_path, "check-scale", *tiny("check-scale"), "--root", str(tmp_path / "scale"))
    check, scan = doc["figures"]["check"], doc["figures"]["scan"]
    assert check["files"] == 60 and set(check["seconds"]) == {"first check", "second check", "after a change"}
    assert scan["paths"] == 300 and scan["listed"] > 0
    assert doc["held"] == (check["seconds"]["second check"] <= 5.0)
    assert not (tmp_path / "scale").exists()  # removed unless --keep


def test_agreement_of_a_run_with_itself_is_perfect(tmp_path, quick_run):
    _, run_dir = quick_run
    _, doc = validate(tmp_path, "agreement", str(run_dir), str(run_dir))
    figures = doc["figures"]
    assert figures["spearman"] == pytest.approx(1.0)
    picked = figures["recommended"]
    assert picked["first"] and picked["first"] == picked["second"]
    assert picked["both"] == sorted(picked["first"])


def test_tradeoff_reads_the_training_samples_of_a_run(tmp_path, quick_run):
    _, run_dir = quick_run
    _, doc = validate(tmp_path, "tradeoff", str(run_dir))
    table = doc["figures"]["table"]
    assert table and all(row["within"] <= row["cells"] and len(row["half_widths"]) == row["cells"]
                         for row in table)
    assert doc["held"] is None


def test_report_prints_a_markdown_row_per_cell(quick_run):
    _, run_dir = quick_run
    result = run_main("report", str(run_dir), "--markdown")
    assert result.returncode == 0, result.stderr
    cells = json.loads((run_dir / "results.json").read_text())["cells"]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| `")]
    assert len(rows) == len(cells)


def test_tiny_run_arguments_match_the_suites(tmp_path):
    """The checks' tiny runs use the suite's tiny dataset, so they share its cache."""
    for check in ("aa", "cost", "band"):
        extra = tiny(check)[tiny(check).index("--") + 1:]
        for flag in ("--num-train", "--num-val", "--image-size", "--source-size", "--num-classes"):
            assert extra[extra.index(flag) + 1] == TINY_ARGS[TINY_ARGS.index(flag) + 1], (check, flag)
