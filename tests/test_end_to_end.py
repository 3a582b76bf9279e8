"""A real quick-preset run: every family in its own child process, results and report.

One run (module-scoped) feeds several checks, to keep the suite within its budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.config import PRESETS
from bench.data.equivalence import DIFFERS, SAME, SHAPE_ONLY
from bench.results.document import SCHEMA_VERSION, load_run
from bench.results.table import CSV_COLUMNS, load_frame
from tests.helpers.cli import HOSTILE, TINY_ARGS, run_cli, run_main

FAMILIES = {*PRESETS["quick"].variants, "custom:plugins.pipelines:good"}  # one per family, by the preset
BGR = "custom:plugins.broken_data:bgr"  # fast enough, and wrong: channels swapped


def test_prints_the_report_path(quick_run):
    result, run_dir = quick_run
    assert f"report: {run_dir / 'report.html'}" in result.stdout
    assert (run_dir / "report.html").stat().st_size > 0


def test_csv_has_an_ok_row_for_every_family_and_the_axis_rows(quick_run):
    _, run_dir = quick_run
    frame = pd.read_csv(run_dir / "results.csv")
    assert list(frame.columns) == CSV_COLUMNS
    failed = frame[frame["status"] != "ok"]
    assert failed.empty, failed[["variant", "mode", "error"]].to_string()
    train = frame[frame["mode"] == "train"]
    plain = train[(train["precision"] == "float32") & (train["augmentation"] == "none")]
    assert set(plain["variant"]) == FAMILIES | {BGR}
    assert ((train["precision"] == "mixed_bfloat16") & (train["variant"] == "tf_data_tuned")).any()
    assert ((train["augmentation"] == "tf_image") & (train["variant"] == "tf_data_tuned")).any()
    assert (frame["images_per_sec"] > 0).all()
    assert (frame["first_batch_s"] > 0).all()
    assert train["val_accuracy"].between(0, 1).all()
    assert (train["images_delivered"] == train["images_expected"]).all()


def test_every_cell_has_the_four_modes_and_their_derived_figures(quick_run):
    _, run_dir = quick_run
    frame = pd.read_csv(run_dir / "results.csv")
    modes = frame.groupby(["variant", "precision", "augmentation"])["mode"].apply(set)
    assert (modes == {"pipeline", "train", "model_only", "simulated"}).all()
    assert (frame["stall_percent"] < 100).all()  # not clamped at 0: a negative stall is noise
    assert frame["au_percent"].between(0, 100).all()
    assert frame["input_bound"].isin(["not input-bound", "moderately input-bound",
                                      "highly input-bound"]).all()
    assert frame["images_per_sec_low"].isna().all(), "one round: no interval"
    train = frame[frame["mode"] == "train"]
    assert (train["cpu_percent"] > 0).all() and (train["peak_rss_bytes"] > 50 * 2**20).all()
    assert train["gpu_util_percent"].isna().all()  # no GPU on the test machines
    verdicts = set(train["vs_fastest_verdict"].dropna())
    assert verdicts == {"too few rounds"}, "one round: the paired test cannot decide, and says so"


def test_every_cell_carries_its_data_check_and_only_the_bgr_one_differs(quick_run):
    _, run_dir = quick_run
    checks = {(c["variant"], c["augmentation"]): c["equivalence"] for c in load_run(run_dir)["cells"]}
    for (variant, augmentation), found in checks.items():
        if variant == BGR:
            assert found["verdict"] == DIFFERS and found["channels_swapped"], found
        elif augmentation == "tf_image":  # random augmentation: labels, range, dtype and shape only
            assert found["verdict"] == SHAPE_ONLY, (variant, found)
        else:
            assert found["verdict"] == SAME and found["mae"] < 0.01, (variant, found)
    frame = pd.read_csv(run_dir / "results.csv")
    assert set(frame.loc[frame["data_check"] == DIFFERS, "variant"]) == {BGR}
    assert frame.loc[frame["variant"] == BGR, "data_reasons"].str.startswith("channels swapped (BGR)").all()
    html = (run_dir / "report.html").read_text()
    assert 'id="data-differs"' in html and "Data differs from the reference in 1 cell(s)" in html
    headline = html[html.index('id="headline"'):html.index("<h2>Results</h2>")]
    assert BGR not in headline, "a cell whose data differ is never recommended"


def test_every_cell_started_from_identical_weights(quick_run):
    _, run_dir = quick_run
    doc = load_run(run_dir)
    hashes = {r["initial_weights_sha256"] for c in doc["cells"] for r in c["runs"] if r["mode"] == "train"}
    assert len(hashes) == 1


def test_results_json_keeps_raw_epochs_and_the_configuration(quick_run):
    _, run_dir = quick_run
    doc = json.loads((run_dir / "results.json").read_text())
    assert doc["schema_version"] == SCHEMA_VERSION and doc["complete"] is True
    assert doc["config"]["preset"] == "quick" and doc["config"]["epochs"] == 2
    assert doc["environment"]["framework"]["tensorflow"]
    assert doc["dataset"]["num_train"] == 48
    assert [r["round"] for r in doc["rounds"]] == [0] and len(doc["rounds"][0]["order"]) == len(doc["cells"])
    for cell in doc["cells"]:
        loops = cell["loops"]
        assert cell["warmup_fit"]["error"] is None and cell["calibration"]["min_sample_s"] == 0.05
        for run in cell["runs"]:
            epochs = [e["epoch"] for e in run["epochs"]]
            warm = run.get("warm_start")  # simulated mode reads pipeline mode's input, warm: no warm-up
            expected = {"train": loops["train_epochs"], "pipeline": 1 + loops["pipeline_epochs"],
                        "simulated": (0 if warm else 1) + loops["simulated_epochs"],
                        "model_only": 1}[run["mode"]]
            assert epochs == list(range(1, expected + 1)), (cell["variant"], run["mode"])
            calibrated = {"train": loops["train_epochs"] - 1, "pipeline": loops["pipeline_epochs"],
                          "simulated": loops["simulated_epochs"], "model_only": loops["model_only_steps"]}
            assert run["loops"] == calibrated[run["mode"]], "every round repeats what calibration fixed"
            assert run["seconds"] > 0 and run["images"] > 0
            assert run["images_per_sec"] == pytest.approx(run["images"] / run["seconds"])
            if run["mode"] != "model_only":
                assert all(e["images"] == 48 for e in run["epochs"]), (cell["variant"], run["mode"])
            if run["mode"] == "train":  # accuracy comes from the untimed accuracy fit: none inside
                assert all(e.get("val_accuracy") is None for e in run["epochs"])
                assert loops["train_epochs"] >= 2
        fits = cell["accuracy_fits"]  # the cell's own fit; the band cell's seeds after it
        # the reference in float32 is a band cell with each augmentation: its band judges that augmentation
        band_cell = ((cell["variant"], cell["precision"]) == ("tf_data_tuned", "float32")
                     and not cell.get("options"))
        assert [f["seed"] for f in fits] == ([0, 1, 2] if band_cell else [0])
        assert all(len(f["val_accuracy"]) == 2 and f["images_per_epoch"] == 48 for f in fits), cell["variant"]
        assert all(len(f["val_loss"]) == 2 and min(f["val_loss"]) > 0 for f in fits), cell["variant"]
        series = cell["telemetry"]["series"]
        assert len(series["t"]) > 3 and cell["telemetry"]["gpu_status"].startswith("unavailable")
        names = [m["name"] for m in cell["telemetry"]["marks"]]
        assert set(names) == {"setup", "calibration", "pipeline", "train", "model_only", "simulated"}
        assert names[:2] == ["setup", "calibration"], "set-up (with the warm-up fit) before anything timed"
    frame = load_frame(run_dir)
    assert len(frame) == 4 * len(doc["cells"])


def test_report_escapes_the_label_and_lists_every_cell(quick_run):
    _, run_dir = quick_run
    html = (run_dir / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and HOSTILE not in html
    table = html[html.index('<table id="results">'):html.index('<details id="more-columns">')]
    assert table.count("<tr class=") == len(load_run(run_dir)["cells"]) + 2  # its two header rows
    assert 'id="fig-throughput"' in html and "http://" not in html.replace("http://www.w3.org", "")


def test_report_speedups_against_a_chosen_baseline(quick_run, tmp_path):
    import shutil

    _, run_dir = quick_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    result = run_main("report", str(copy), "--baseline", "tf_data_tuned")
    assert result.returncode == 0, result.stderr
    html = (copy / "report.html").read_text()
    assert "<strong>vs baseline</strong> is against tf_data_tuned" in html
    assert 'title="the baseline: tf_data_tuned"' in html
    bad = run_main("report", str(copy), "--baseline", "nope")
    assert bad.returncode == 2 and "--baseline 'nope' is not in this run" in bad.stderr


def test_report_rerenders_from_saved_results(quick_run):
    _, run_dir = quick_run
    before = (run_dir / "report.html").read_text()
    (run_dir / "report.html").unlink()
    result = run_main("report", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert Path(run_dir / "report.html").read_text() == before


def test_delivered_images_not_requested_steps_set_the_rate(small_run):
    """Through the whole harness: a generator that runs dry is counted, and said so."""
    result, tmp_path = small_run
    assert result.returncode == 0, result.stderr[-2000:]
    frame = pd.read_csv(next(tmp_path.glob("*/results.csv")))
    dry = frame[frame["precision"] == "float32"].set_index("variant").loc["custom:plugins.pipelines:runs_dry"]
    assert dry["status"] == "ok"
    assert dry["images_delivered"] < dry["images_expected"]
    assert "delivered" in dry["note"]
    doc = load_run(next(tmp_path.iterdir()))
    cell = next(c for c in doc["cells"] if c["variant"].endswith("runs_dry") and c["precision"] == "float32")
    trial = next(r for r in cell["runs"] if r["mode"] == "train")
    steady = [e for e in trial["epochs"] if e["epoch"] > 1]
    assert trial["images"] == sum(e["images"] for e in steady)
    window = steady[-1]["wall_s"] - (steady[0]["wall_s"] - steady[0]["train_s"])
    assert trial["images_per_sec"] == pytest.approx(trial["images"] / window)


@pytest.mark.slow
def test_rounds_interleave_cells_and_keep_every_sample(tmp_path):
    """Three rounds of two cells: round r of every cell before round r+1 of any, each round's order
    recorded; the median and its interval (with its real coverage, 75% at n=3) come from the rounds."""
    result = run_cli("run", "--variants", "in_memory_tensor_slices,tf_data_tuned", "--modes",
                     "pipeline,model_only", *TINY_ARGS, "--rounds", "3", "--seed", "3",
                     "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    doc = load_run(next(tmp_path.iterdir()))
    assert [r["round"] for r in doc["rounds"]] == [0, 1, 2]
    assert all(sorted(r["order"]) == sorted(c["variant"] + "|float32|none" for c in doc["cells"])
               for r in doc["rounds"])
    started = sorted((run["started_unix"], run["round"]) for c in doc["cells"] for run in c["runs"])
    assert [r for _, r in started] == sorted(r for _, r in started), "no cell ran ahead of its round"
    for cell in doc["cells"]:
        for run in cell["runs"]:
            assert run["loadavg_1m"] is not None and "steal_percent" in run
    frame = pd.read_csv(next(tmp_path.glob("*/results.csv")))
    for _, rows in frame.groupby(["variant", "mode"]):
        assert sorted(rows["round"]) == [0, 1, 2]
        assert rows["images_per_sec_median"].nunique() == 1
        assert rows["images_per_sec_median"].iloc[0] == pytest.approx(rows["images_per_sec"].median())
        low, high = rows["images_per_sec_low"].iloc[0], rows["images_per_sec_high"].iloc[0]
        assert (low, high) == (rows["images_per_sec"].min(), rows["images_per_sec"].max())
        assert rows["interval_coverage"].iloc[0] == pytest.approx(0.75)
        assert rows["unstable"].iloc[0] == ((high - low) / 2 > 0.05 * rows["images_per_sec"].median())
    assert frame["vs_baseline_ratio"].isna().all(), "no baseline variant in this run: no ratio to it"
    # no training: the pipeline mode decides (the same paired test), and 3 rounds cannot be significant
    assert frame["fastest"].nunique() == 1
    fastest = frame["fastest"].iloc[0]
    others = frame[frame["variant"] != fastest]
    assert set(others["vs_fastest_verdict"]) == {"too few rounds"}
    assert frame.loc[frame["variant"] == fastest, "vs_fastest_verdict"].isna().all()


@pytest.mark.slow
def test_overhead_check_alternates_sampler_on_and_off_for_a_tf_and_a_python_loader(tmp_path):
    result = run_cli("run", "--variants", "tf_data_naive", "--modes", "pipeline", "--overhead-check",
                     "--telemetry-hz", "50", *TINY_ARGS, "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "telemetry overhead check (tf_data_naive, pipeline mode)" in result.stderr
    assert "telemetry overhead check (generator, pipeline mode)" in result.stderr
    checks = load_run(next(tmp_path.iterdir()))["telemetry_overhead"]
    assert sorted(c["variant"] for c in checks) == ["generator", "tf_data_naive"]
    for overhead in checks:
        on, off = overhead["on_images_per_sec"], overhead["off_images_per_sec"]
        assert len(on) == len(off) == 6 and min(on) > 0 and min(off) > 0
        assert overhead["ratio"] == pytest.approx(float(np.median(np.array(on) / np.array(off))))
        assert overhead["comparison"]["test"].startswith("exact two-sided Wilcoxon")
        assert 0 < overhead["sampler_cpu_percent"] < 100
