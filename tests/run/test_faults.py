"""Faults during a run: a hung cell times out, a real SIGINT keeps what was measured, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import psutil
import pytest

from tests.helpers.cli import ROOT, TINY_ARGS, run_cli, run_main

FAST = ("--modes", "pipeline")


def workers_of(run_dir) -> list[psutil.Process]:
    """Live worker processes whose job lies in `run_dir`."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "bench.run.worker" in cmdline and str(run_dir) in cmdline:
            found.append(proc)
    return found


@pytest.mark.timing  # the other cells must finish inside --timeout
@pytest.mark.slow
def test_a_hung_cell_times_out_and_the_run_goes_on(tmp_path):
    result = run_cli("run", "--variants", "in_memory_tensor_slices", "--pipeline", "plugins.pipelines:hangs",
                     *FAST, *TINY_ARGS, "--timeout", "12", "--results-dir", str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = next(tmp_path.iterdir())
    frame = pd.read_csv(run_dir / "results.csv").set_index("variant")
    assert frame.loc["in_memory_tensor_slices", "status"] == "ok"
    hung = frame.loc["custom:plugins.pipelines:hangs"]
    assert hung["status"] == "timeout" and "--timeout" in hung["error"]
    assert workers_of(run_dir) == []


@pytest.mark.timing  # the signal must land between two trials
@pytest.mark.slow
def test_sigint_keeps_finished_cells_marks_incomplete_and_resume_finishes(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    variants = "in_memory_tensor_slices,tf_data_naive,tf_data_tuned"
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", "--variants", variants, *FAST, *TINY_ARGS,
                             "--rounds", "2", "--results-dir", str(tmp_path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    results = None
    while time.monotonic() < deadline:  # wait until the first trial of round 0 is saved
        found = list(tmp_path.glob("*/results.json"))
        if found and any(c["runs"] for c in json.loads(found[0].read_text())["cells"]):
            results = found[0]
            break
        time.sleep(0.2)
    assert results is not None, "no trial finished in time"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    doc = json.loads(results.read_text())
    measured = [c for c in doc["cells"] if c["runs"]]
    assert doc["complete"] is False and 1 <= len(measured) < 3
    assert {c["status"] for c in doc["cells"] if not c["runs"]} <= {"incomplete"}
    assert "Incomplete run" in (results.parent / "report.html").read_text()
    time.sleep(1)
    assert workers_of(results.parent) == []

    resumed = run_cli("run", "--resume", str(results.parent), timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    doc = json.loads(results.read_text())
    assert doc["complete"] is True
    assert sorted(c["variant"] for c in doc["cells"]) == sorted(variants.split(","))
    assert all(c["status"] == "ok" and {r["round"] for r in c["runs"]} == {0, 1} for c in doc["cells"])
    kept = {r["started_unix"] for c in measured for r in c["runs"]}
    assert kept <= {r["started_unix"] for c in doc["cells"] for r in c["runs"]}, "measured runs were kept"


def test_unwritable_results_folder_is_reported_before_measuring(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_main("run", *TINY_ARGS, *FAST, "--results-dir", str(blocker / "results"))
    assert result.returncode == 2
    assert "is not writable" in result.stderr and "Traceback" not in result.stderr
