"""The Keras backend axis: one matrix on TensorFlow and JAX, and a machine without TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import REGISTRY
from pipelines.base import reference_variant
from tests.helpers.cli import ROOT, TINY_ARGS, run_cli, run_main

NO_TF = ROOT / "tests" / "no_tensorflow"
# the variants that run without TensorFlow (NumPy, PyDataset) and the tuned tf.data reference
MATRIX = (*(n for n, v in REGISTRY.items() if not v.needs_tensorflow), reference_variant())


def load(results: Path) -> dict:
    return json.loads(next(results.glob("*/results.json")).read_text())


@pytest.fixture(scope="module")
def both_backends(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    result = run_cli("run", "--variants", ",".join(MATRIX), "--backend", "tensorflow,jax",
                     "--modes", "train,model_only", *TINY_ARGS, "--no-overhead-check",
                     "--results-dir", str(results))
    assert result.returncode == 0, result.stderr[-3000:]
    return load(results), next(results.iterdir())


def test_the_same_matrix_runs_on_both_backends(both_backends):
    doc, _ = both_backends
    cells = {(c["variant"], c["backend"]): c for c in doc["cells"]}
    assert set(cells) == {(v, b) for v in MATRIX for b in ("tensorflow", "jax")}
    for (variant, backend), cell in cells.items():
        assert cell["status"] == "ok", (variant, backend, cell.get("error"))
        assert cell["framework"]["keras_backend"] == backend, "each cell's process imports its own backend"
        for run in cell["runs"]:
            assert all(e["images"] > 0 for e in run["epochs"]), (variant, backend, run["mode"])
    assert set(doc["environment"]["frameworks"]) == {"tensorflow", "jax"}


def test_an_untimed_warm_up_fit_precedes_the_trials_which_start_from_the_initial_weights(both_backends):
    doc, _ = both_backends
    initial: dict[str, set[str]] = {}
    for cell in doc["cells"]:
        assert cell["warmup_fit"]["error"] is None and cell["warmup_fit"]["fit_s"] > 0, cell["variant"]
        for run in cell["runs"]:
            if run["mode"] == "train":
                initial.setdefault(cell["backend"], set()).add(run["initial_weights_sha256"])
    # The identical model from one seed: every variant's trials start from the same weights,
    # although each cell's warm-up trained its model on its own pipeline first.
    assert {backend: len(hashes) for backend, hashes in initial.items()} == {"tensorflow": 1, "jax": 1}


def test_results_and_report_show_backends_side_by_side(both_backends):
    import pandas as pd

    _, run_dir = both_backends
    frame = pd.read_csv(run_dir / "results.csv")
    assert set(frame["backend"]) == {"tensorflow", "jax"}
    html = (run_dir / "report.html").read_text()
    table = html[html.index('<table id="results">'):html.index('<details id="more-columns">')]
    assert table.count('<span class="backend">[jax]</span>') == len(MATRIX)
    assert "jax backend</dt>" in html and "tensorflow backend</dt>" in html


def run_without_tensorflow(*args: str):
    env_path = os.pathsep.join([str(NO_TF), str(ROOT), str(ROOT / "tests")])
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env={**os.environ, "PYTHONPATH": env_path})


def test_the_blocker_really_hides_tensorflow():
    result = run_without_tensorflow("list")
    assert result.returncode == 0, result.stderr
    probe = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(NO_TF)})
    assert probe.returncode != 0 and "ModuleNotFoundError: import of tensorflow halted" in probe.stderr


@pytest.mark.slow
def test_a_machine_without_tensorflow_runs_the_other_variants(tmp_path):
    result = run_without_tensorflow("run", "--backend", "jax", "--variants",
                                    "in_memory_numpy,sequence,generator,tf_data_tuned", "--modes",
                                    "train,pipeline", *TINY_ARGS, "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    cells = {c["variant"]: c for c in load(tmp_path)["cells"]}
    for variant in ("in_memory_numpy", "sequence"):
        assert cells[variant]["status"] == "ok", cells[variant].get("error")
        assert cells[variant]["framework"]["tensorflow"] is None
        assert cells[variant]["framework"]["keras_backend"] == "jax"
    for variant in ("generator", "tf_data_tuned"):
        assert cells[variant]["status"] == "unavailable"
        assert cells[variant]["error"].startswith("TensorFlow is not installed")
    assert (next(tmp_path.iterdir()) / "report.html").exists()


@pytest.mark.slow
def test_the_tensorflow_backend_without_tensorflow_is_unavailable_not_a_crash(tmp_path):
    result = run_without_tensorflow("run", "--variants", "sequence", *TINY_ARGS,
                                    "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    (cell,) = load(tmp_path)["cells"]
    assert cell["status"] == "unavailable" and "try --backend jax" in cell["error"]


def test_unknown_backend_is_one_line(tmp_path):
    result = run_main("run", "--backend", "torch", "--results-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == ("pipebench: error: unknown backend 'torch'; "
                                     "valid choices: tensorflow, jax")
