"""tf.data service: local clusters of 1 and 2 workers, an external dispatcher, and the faults.

Every test checks that no `bench.run.cluster` server outlives it: success, a killed
worker, an interrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bench.config import Cell, service_cells, service_worker_counts
from bench.errors import PipebenchError
from bench.report.scaling import service_scaling
from tests.helpers.cli import ROOT, TAG, run_cli

RUN = ("--num-train", "96", "--num-val", "32", "--image-size", "32", "--num-classes", "3", "--epochs", "2",
       "--batch-size", "16", "--min-sample-s", "0.05", "--rounds", "1", "--no-overhead-check",
       "--accuracy-epochs", "2")


def service_servers() -> list[psutil.Process]:
    """Live tf.data service servers started by this test process's runs (tagged through their
    environment, so that servers of tests running beside it in another process do not count)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        try:
            ours = proc.environ().get(TAG) == os.environ[TAG]
            if "bench.run.cluster" in cmd and ours and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def assert_no_servers_left(timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while service_servers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not service_servers(), [p.info["cmdline"] for p in service_servers()]


def load(results: Path) -> dict:
    return json.loads(next(results.glob("*/results.json")).read_text())


def test_worker_counts_default_to_powers_of_two_up_to_the_cores():
    assert service_worker_counts(1) == [1, 2]
    assert service_worker_counts(2) == [1, 2]
    assert service_worker_counts(6) == [1, 2, 4]
    assert service_worker_counts(16) == [1, 2, 4, 8, 16]


@pytest.mark.parametrize("service, workers, message", [
    ("localhost:5050", None, "valid: grpc://HOST:PORT"),
    ("grpc://localhost:5050", [2], "not both"),
])
def test_service_flags_are_checked(service, workers, message):
    with pytest.raises(PipebenchError, match=message):
        service_cells(Cell("tf_data_service"), workers, service)


def test_projection_is_one_workers_rate_times_n_capped_at_the_consumer():
    rows = [{"variant": "tf_data_service", "options": f"workers={k}", "status": "ok", "precision": "float32",
             "augmentation": "none", "pipeline_images_per_sec": rate, "simulated_images_per_sec": None,
             "images_per_sec": None, "model_only_images_per_sec": 1000.0}
            for k, rate in ((1, 300.0), (2, 450.0))]
    scaling = service_scaling(rows)
    assert [m["workers"] for m in scaling["measured"]] == [1, 2]
    projected = {p["workers"]: p["images_per_sec"] for p in scaling["projection"]}
    assert projected[1] == 300.0 and projected[2] == 600.0
    assert projected[4] == 1000.0 and projected[32] == 1000.0


@pytest.fixture(scope="module")
def scaling_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    result = run_cli("run", "--variants", "tf_data_service", "--service-workers", "1,2",
                     "--modes", "pipeline,simulated", *RUN, "--results-dir", str(results))
    assert result.returncode == 0, result.stderr[-3000:]
    return load(results), next(results.iterdir())


def test_local_clusters_of_one_and_two_workers_run_and_stop(scaling_run):
    doc, _ = scaling_run
    cells = {tuple(c["options"]): c for c in doc["cells"]}
    assert set(cells) == {("workers=1",), ("workers=2",)}
    for options, cell in cells.items():
        assert cell["status"] == "ok", cell.get("error")
        assert cell["service"]["workers"] == int(options[0].split("=")[1])
        assert cell["service"]["local"] and not cell["service"]["worker_deaths"]
        for run in cell["runs"]:
            assert all(e["images"] == 96 for e in run["epochs"]), (options, run["mode"])
    assert_no_servers_left()


def test_report_shows_the_scaling_curve_and_a_labelled_projection(scaling_run):
    _, run_dir = scaling_run
    html = (run_dir / "report.html").read_text()
    assert 'id="fig-scaling"' in html
    assert "Projection, not a measurement" in html
    csv = (run_dir / "results.csv").read_text()
    assert "workers=1" in csv and "workers=2" in csv


def start_run(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    return subprocess.Popen([sys.executable, "-m", "bench", "run", *args, "--results-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def wait_for_workers(run: subprocess.Popen) -> list[psutil.Process]:
    """The run's service worker processes, once the run says its local cluster is ready."""
    for line in run.stderr:
        if "local tf.data service ready at" in line:
            pids = json.loads(line[line.index("pids ") + len("pids "):])
            return [psutil.Process(pid) for pid in pids]
    raise AssertionError(f"the run ended without a ready cluster (status {run.wait()})")


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_replaced_and_reported(tmp_path):
    run = start_run(tmp_path, "--variants", "generator,tf_data_service", "--service-workers", "2",
                    "--modes", "pipeline,train", *RUN[:-3], "--rounds", "2", "--no-overhead-check")
    victim = wait_for_workers(run)[0]
    time.sleep(2.0)  # inside the cell's measurements
    victim.kill()
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0, err[-3000:]
    doc = load(tmp_path)
    cells = {c["variant"]: c for c in doc["cells"]}
    assert cells["generator"]["status"] == "ok", "the cell measured before must be kept"
    service = cells["tf_data_service"]
    deaths = service["service"]["worker_deaths"]
    assert [d["pid"] for d in deaths] == [victim.pid] and deaths[0]["returncode"] == -signal.SIGKILL
    assert f"pid {victim.pid}" in service["note"] and "replaced" in service["note"]
    assert service["status"] in ("ok", "failed")
    if service["status"] == "failed":
        assert service["error"], "a failure must say what happened"
    assert "tf.data service worker(s) died" in (tmp_path.glob("*/report.html").__next__().read_text())
    assert_no_servers_left()


@pytest.mark.slow
def test_ctrl_c_during_a_service_cell_leaves_no_server(tmp_path):
    run = start_run(tmp_path, "--variants", "tf_data_service", "--service-workers", "2", *RUN)
    wait_for_workers(run)
    time.sleep(1.0)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert_no_servers_left()


@pytest.mark.slow
def test_an_external_dispatcher_is_used_as_given(tmp_path):
    from bench.run.cluster import free_ports

    dispatcher_port, worker_port = free_ports(2)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    servers = [subprocess.Popen([sys.executable, "-m", "bench.run.cluster", *args], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for args in (("dispatcher", "--port", str(dispatcher_port)),
                            ("worker", "--dispatcher", f"localhost:{dispatcher_port}",
                             "--port", str(worker_port)))]
    try:
        result = run_cli("run", "--variants", "tf_data_service", "--service",
                         f"grpc://localhost:{dispatcher_port}", "--modes", "pipeline", *RUN,
                         "--results-dir", str(tmp_path))
        assert result.returncode == 0, result.stderr[-3000:]
        (cell,) = load(tmp_path)["cells"]
        assert cell["status"] == "ok", cell.get("error")
        assert cell["options"] == [f"service=grpc://localhost:{dispatcher_port}"]
        assert "service" not in cell, "no local cluster is started for an external dispatcher"
        assert all(e["images"] == 96 for e in cell["runs"][0]["epochs"])
    finally:
        for server in servers:
            server.kill()
            server.wait()
    assert_no_servers_left()
