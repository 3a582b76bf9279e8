"""`--cores K,K`: each cell's worker, its threads and TensorFlow's pools run on K cores only."""

from __future__ import annotations

import json
import os

import pytest

from bench.config import Cell, check_cores, usable_cores
from bench.errors import PipebenchError
from tests.helpers.cli import TINY_ARGS, assert_one_line_error, run_cli

TICK_S = 0.02  # /proc's CPU ticks, at both readings


@pytest.fixture(scope="module")
def cores_run(tmp_path_factory):
    """A real pipeline-mode run of the tuned tf.data pipeline on 1 core and, where there are two, on 2."""
    counts = [1, 2] if usable_cores() >= 2 else [1]
    results = tmp_path_factory.mktemp("results")
    result = run_cli("run", "--variants", "tf_data_tuned", "--modes", "pipeline",
                     "--cores", ",".join(map(str, counts)), *TINY_ARGS, "--rounds", "2",
                     "--no-overhead-check", "--results-dir", str(results))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(next(results.glob("*/results.json")).read_text()), counts


def test_a_worker_on_k_cores_runs_every_thread_and_tensorflows_pools_on_those_cores(cores_run):
    doc, counts = cores_run
    cells = {c["cores"]: c for c in doc["cells"]}
    assert sorted(cells) == counts
    for count, cell in cells.items():
        assert cell["status"] == "ok", cell.get("error")
        assert len(cell["cpu_affinity"]) == count
        assert set(cell["cpu_affinity"]) <= os.sched_getaffinity(0)
        # every thread of the worker (TensorFlow's and tf.data's included) may run on those cores only
        assert cell["threads"]["thread_core_sets"] == [sorted(cell["cpu_affinity"])]
        # TensorFlow sizes its inter-op pool from the affinity: one compute thread per core
        assert cell["threads"]["threads_by_name"]["tf_Compute"] == count


def test_a_one_core_cell_never_uses_more_than_one_core(cores_run):
    """Physics, not speed: over a window, CPU time on K cores is at most K times its length."""
    doc, _ = cores_run
    for cell in doc["cells"]:
        for run in cell["runs"]:
            assert run["cpu_s"] > 0 and run["main_thread_cpu_s"] > 0
            window_s = run["seconds"] + run["cpu_read_s"]  # the readings bracket the timed window
            assert run["cpu_s"] <= cell["cores"] * window_s + TICK_S, run


def test_cells_on_other_core_counts_are_told_apart_and_predicted(cores_run, tmp_path):
    doc, counts = cores_run
    labels = {c["cores"]: Cell.of(c).label for c in doc["cells"]}
    assert labels[1] == "tf_data_tuned @1c"
    if len(counts) > 1:
        from bench.results.analysis import analyse

        by_cores = {c.cell.cores: c for c in analyse(doc).cells}
        assert by_cores[1].predicted_images_per_sec is None  # the fewest-core cell is the model's base
        assert by_cores[2].predicted_images_per_sec == pytest.approx(by_cores[1].capacity.predict(2))


def test_cores_out_of_range_is_refused_before_anything_runs():
    with pytest.raises(PipebenchError, match="valid: 1.."):
        check_cores([usable_cores() + 1])
    assert check_cores(None) == [None]
    assert check_cores([1, 1]) == [1]
    assert_one_line_error(run_cli("run", "--cores", "0", *TINY_ARGS), "--cores")
    assert_one_line_error(run_cli("run", "--cores", str(usable_cores() + 1), *TINY_ARGS), "--cores",
                          f"1..{usable_cores()}")


def test_a_cell_keeps_its_cores_through_its_record():
    cell = Cell("generator", cores=2)
    assert Cell.of(cell.to_record()) == cell
    assert cell.key.endswith("cores=2") and cell.settings_key == Cell("generator").key
    assert "cores" not in Cell("generator").to_record()
