"""A real quick-profile run: every family in its own child process, results and report.

One run (module-scoped) feeds several checks, to keep the suite within its budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY_ARGS, run_cli

from bench.results import CSV_COLUMNS, load_frame, load_run

FAMILIES = {
    "in_memory_tensor_slices", "generator", "sequence", "image_data_generator",
    "image_dataset_from_directory", "tf_data_tuned", "tfrecord", "custom:plugins.pipelines:good",
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    result = run_cli("run", "--profile", "quick", "--pipeline", "plugins.pipelines:good",
                     *TINY_ARGS, "--results-dir", str(results), "--label", "<b>e2e</b>")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = next(results.iterdir())
    return result, run_dir


def test_prints_the_report_path(quick_run):
    result, run_dir = quick_run
    assert f"report: {run_dir / 'report.html'}" in result.stdout
    assert (run_dir / "report.html").stat().st_size > 0


def test_csv_has_an_ok_row_for_every_family_and_the_axis_rows(quick_run):
    _, run_dir = quick_run
    frame = pd.read_csv(run_dir / "results.csv")
    assert list(frame.columns) == CSV_COLUMNS
    failed = frame[frame["status"] != "ok"]
    assert failed.empty, failed[["variant", "error"]].to_string()
    plain = frame[(frame["precision"] == "float32") & (frame["augmentation"] == "none")]
    assert set(plain["variant"]) == FAMILIES
    assert ((frame["precision"] == "mixed_bfloat16") & (frame["variant"] == "tf_data_tuned")).any()
    assert ((frame["augmentation"] == "tf_image") & (frame["variant"] == "tf_data_tuned")).any()
    assert (frame["images_per_sec"] > 0).all()
    assert (frame["first_batch_s"] > 0).all()
    assert frame["val_accuracy"].between(0, 1).all()
    assert (frame["images_delivered"] == frame["images_expected"]).all()


def test_every_cell_started_from_identical_weights(quick_run):
    _, run_dir = quick_run
    doc = load_run(run_dir)
    hashes = {t["initial_weights_sha256"] for c in doc["cells"] for t in c["trials"]}
    assert len(hashes) == 1


def test_results_json_keeps_raw_epochs_and_the_configuration(quick_run):
    _, run_dir = quick_run
    doc = json.loads((run_dir / "results.json").read_text())
    assert doc["schema_version"] == 1 and doc["complete"] is True
    assert doc["config"]["profile"] == "quick" and doc["config"]["epochs"] == 2
    assert doc["environment"]["framework"]["tensorflow"]
    assert doc["dataset"]["num_train"] == 48
    for cell in doc["cells"]:
        epochs = cell["trials"][0]["epochs"]
        assert [e["epoch"] for e in epochs] == [1, 2]
        assert all(e["images"] == 48 for e in epochs)
    frame = load_frame(run_dir)
    assert len(frame) == len(doc["cells"])


def test_report_escapes_the_label_and_lists_every_cell(quick_run):
    _, run_dir = quick_run
    html = (run_dir / "report.html").read_text()
    assert "&lt;b&gt;e2e&lt;/b&gt;" in html and "<b>e2e</b>" not in html
    assert html.count("<tr class=") == len(load_run(run_dir)["cells"])
    assert 'id="fig-throughput"' in html and "http://" not in html.replace("http://www.w3.org", "")


def test_report_rerenders_from_saved_results(quick_run):
    _, run_dir = quick_run
    before = (run_dir / "report.html").read_text()
    (run_dir / "report.html").unlink()
    result = run_cli("report", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert Path(run_dir / "report.html").read_text() == before


def test_delivered_images_not_requested_steps_set_the_rate(tmp_path):
    """Through the whole harness: a generator that runs dry is counted, and said so."""
    result = run_cli("run", "--variants", "in_memory_numpy", "--pipeline", "plugins.pipelines:runs_dry",
                     *TINY_ARGS, "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    frame = pd.read_csv(next(tmp_path.glob("*/results.csv"))).set_index("variant")
    dry = frame.loc["custom:plugins.pipelines:runs_dry"]
    assert dry["status"] == "ok"
    assert dry["images_delivered"] < dry["images_expected"]
    assert "delivered" in dry["note"]
    doc = load_run(next(tmp_path.iterdir()))
    trial = next(c for c in doc["cells"] if c["variant"].endswith("runs_dry"))["trials"][0]
    steady = [e for e in trial["epochs"] if e["epoch"] > 1]
    expected = sum(e["images"] for e in steady) / sum(e["train_s"] for e in steady)
    assert trial["images_per_sec"] == pytest.approx(expected)
