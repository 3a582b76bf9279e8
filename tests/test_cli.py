"""The command line: bad input gives one line and status 2, before anything is measured.

The fail-fast cases call `bench.cli.main` in this process (`run_main`): the same
parsing, checks and error handling as the command, without a Python start-up per
case. Two smoke tests run the real `python -m bench` subprocess, whose exit status
and stderr a user sees; the runs that measure are real subprocesses everywhere.
"""

from __future__ import annotations

import pytest

from pipelines import REGISTRY
from tests.helpers.cli import TINY_ARGS, assert_one_line_error, run_cli, run_main


def test_a_bad_value_in_a_real_subprocess_is_one_line_and_status_2(tmp_path):
    result = run_cli("run", "--variants", "tf_dta", "--results-dir", str(tmp_path), timeout=120)
    assert_one_line_error(result, "unknown variant or family 'tf_dta'", "tf_data_tuned")
    assert not any(tmp_path.iterdir())


def test_the_old_profile_flag_still_works_with_a_deprecation_message(tmp_path):
    result = run_cli("run", "--profile", "huge", "--results-dir", str(tmp_path), timeout=120)
    first, second = result.stderr.strip().splitlines()
    assert "--profile is deprecated, use --preset" in first
    assert second == "pipebench: error: unknown preset 'huge'; valid choices: quick, default, full"
    listed = run_main("sweep", "--variant", "nope", "--profile", "quick", "--results-dir", str(tmp_path))
    assert "deprecated" in listed.stderr and "unknown variant 'nope'" in listed.stderr


def test_the_old_trials_flag_sets_the_rounds_with_a_deprecation_message(capsys):
    from bench.cli import build_parser, renamed_flags

    args = build_parser().parse_args(["run", "--trials", "4"])
    renamed_flags(args)
    assert args.rounds == 4
    assert "--trials is deprecated, use --rounds" in capsys.readouterr().err
    args = build_parser().parse_args(["run", "--rounds", "5"])
    renamed_flags(args)
    assert args.rounds == 5 and capsys.readouterr().err == ""


def test_missing_data_dir(tmp_path):
    result = run_main("run", "--data-dir", str(tmp_path / "nope"), "--results-dir", str(tmp_path))
    assert_one_line_error(result, "does not exist", "nope")


def test_empty_data_dir(tmp_path):
    (tmp_path / "data").mkdir()
    result = run_main("run", "--data-dir", str(tmp_path / "data"), "--results-dir", str(tmp_path))
    assert_one_line_error(result, "has no class subfolders")


def test_class_folder_without_images(tmp_path):
    (tmp_path / "data" / "cats").mkdir(parents=True)
    (tmp_path / "data" / "cats" / "readme.txt").write_text("no images here")
    result = run_main("run", "--data-dir", str(tmp_path / "data"), "--results-dir", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    *summary, last = result.stderr.strip().splitlines()
    assert last.startswith("pipebench: error: data check of") and "1 empty_class" in last
    assert f"  empty_class: {tmp_path / 'data' / 'cats'} (no usable images)" in summary
    assert f"  not_image: {tmp_path / 'data' / 'cats' / 'readme.txt'} (suffix '.txt')" in summary


@pytest.mark.parametrize("args, fragments", [
    (("--variants", "tf_dta"), ("unknown variant or family 'tf_dta'", "tf_data_tuned")),
    (("--precisions", "float8"), ("unknown precision 'float8'", "mixed_bfloat16")),
    (("--augmentations", "mixup"), ("unknown augmentation 'mixup'", "tf_image")),
    (("--preset", "huge"), ("unknown preset 'huge'", "quick")),
    (("--model", "resnet"), ("unknown model 'resnet'", "small_cnn")),
    (("--opt", "cache=ssd"), ("cache", "'ssd'", "memory")),
    (("--opt", "num_workers=4"), ("num_workers", "parallel_calls")),
    (("--opt", "tf_data_naive.prefetch=-3"), ("prefetch",)),
    (("--epochs", "0"), ("out of range",)),
    (("--val-split", "1.5"), ("--val-split", "out of range")),
    (("--pipeline", "nocolon"), ("module:function",)),
    (("--pipeline", "no_such_module:build"), ("no module named 'no_such_module'",)),
    (("--bogus",), ("unrecognized arguments",)),
    (("--modes", "inference"), ("unknown mode 'inference'", "model_only")),
    (("--step-ms", "10", "--target-rate", "500"), ("--step-ms or --target-rate",)),
    (("--target-accuracy", "1.5"), ("--target-accuracy", "out of range")),
    (("--source-size", "512,256"), ("--source-size", "8 <= LOW <= HIGH <= 4096")),
    (("--source-size", "big"), ("--source-size", "LOW,HIGH")),
    (("--page-cache", "lukewarm"), ("--page-cache", "'lukewarm'", "cold")),
    (("--subset", "0"), ("--subset", "out of range")),
])
def test_bad_values_name_the_valid_choices(tmp_path, args, fragments):
    # tiny sizes: should a check ever be missed, the run stays short rather than a full profile
    result = run_main("run", "--preset", "quick", *TINY_ARGS, *args, "--results-dir", str(tmp_path))
    assert_one_line_error(result, *fragments)


def test_unsupported_combination_is_reported_not_run(tmp_path):
    result = run_main("run", "--variants", "sequence", "--augmentations", "tf_image",
                     "--results-dir", str(tmp_path))
    assert_one_line_error(result, "no runnable cell")


def test_report_of_a_missing_run(tmp_path):
    assert_one_line_error(run_main("report", str(tmp_path / "nothing")), "no results")


def test_list_names_every_variant_and_its_options():
    result = run_main("list")
    assert result.returncode == 0
    for name, variant in REGISTRY.items():
        assert f"{name:30s} [{variant.family}]" in result.stdout
    assert "parallel_calls=autotune" in result.stdout


def test_failing_variant_is_recorded_and_the_others_still_run(small_run):
    import pandas as pd

    result, tmp_path = small_run
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(next(tmp_path.glob("*/results.csv")))
    by_variant = frame[frame["precision"] == "float32"].set_index("variant")
    assert by_variant.loc["in_memory_numpy", "status"] == "ok"
    broken = by_variant.loc["custom:plugins.pipelines:broken"]
    assert broken["status"] == "failed"
    assert broken["error"] == "RuntimeError: this pipeline is broken on purpose"
    assert "failed: custom:plugins.pipelines:broken" in result.stderr
    html = next(tmp_path.glob("*/report.html")).read_text()
    assert '<tr class="failed">' in html and "this pipeline is broken on purpose" in html


@pytest.mark.skipif(__import__("shutil").which("nvidia-smi") is not None, reason="a GPU may be present")
def test_mixed_float16_without_a_gpu_is_unavailable_and_the_run_goes_on(small_run):
    import json

    result, tmp_path = small_run
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    doc = json.loads(next(tmp_path.glob("*/results.json")).read_text())
    cells = {c["precision"]: c for c in doc["cells"] if c["variant"] == "in_memory_numpy"}
    assert cells["float32"]["status"] == "ok"
    assert cells["mixed_float16"]["status"] == "unavailable"
    error = cells["mixed_float16"]["error"]
    assert "needs a GPU" in error and "mixed_bfloat16" in error
