"""`--page-cache cold`: eviction really sends reads to storage, every timed epoch, and says when it cannot."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.run import page_cache
from bench.run.fit_timing import Epoch
from tests.helpers.cli import TINY_ARGS, assert_one_line_error, run_cli, run_main

SHM = Path("/dev/shm")


def fetched_reading(path: Path) -> int:
    before = page_cache.storage_read_bytes()
    with open(path, "rb") as handle:
        while handle.read(1 << 20):
            pass
    return page_cache.storage_read_bytes() - before


@pytest.fixture()
def on_disk(tmp_path):
    """A 4 MiB file on the file system that holds the test's temporary folder."""
    path = tmp_path / "blob.bin"
    path.write_bytes(os.urandom(4 << 20))
    if page_cache.probe([str(path)]) is not None:
        pytest.skip(f"eviction has no effect under {tmp_path}: {page_cache.probe([str(path)])}")
    return path


def test_evicted_file_is_read_from_storage_and_then_from_the_cache(on_disk):
    size = on_disk.stat().st_size
    done = page_cache.evict([str(on_disk)])
    assert done.files == 1 and done.bytes == size and done.failed == 0
    assert fetched_reading(on_disk) >= 0.9 * size
    assert fetched_reading(on_disk) <= 0.1 * size  # warm now


def test_a_file_just_written_is_evicted_too(tmp_path):
    path = tmp_path / "fresh.bin"
    path.write_bytes(os.urandom(2 << 20))  # dirty pages: the kernel drops only clean ones
    if page_cache.probe([str(path)]) is not None:
        pytest.skip("eviction has no effect here")
    path.write_bytes(os.urandom(2 << 20))
    page_cache.evict([str(path)])
    assert fetched_reading(path) >= 0.9 * (2 << 20)


@pytest.mark.skipif(not SHM.is_dir(), reason="no /dev/shm")
def test_probe_says_why_tmpfs_cannot_be_cold():
    path = SHM / f"pipebench-probe-{os.getpid()}"
    path.write_bytes(os.urandom(1 << 20))
    try:
        reason = page_cache.probe([str(path)])
    finally:
        path.unlink()
    assert reason is not None and "had no effect" in reason


def test_sample_flags_a_cold_sample_that_read_warm():
    epochs = [Epoch(epoch=2, storage_read_bytes=10_000, evicted_bytes=1_000_000),
              Epoch(epoch=3, storage_read_bytes=990_000, evicted_bytes=1_000_000)]
    cold = page_cache.sample_fields(epochs, "cold", applies=True)
    assert cold["cold_read_share_min"] == pytest.approx(0.01)
    assert "cold had no effect" in cold["page_cache_flag"]
    good = page_cache.sample_fields(epochs[1:], "cold", applies=True)
    assert "page_cache_flag" not in good and good["storage_read_bytes"] == 990_000
    assert page_cache.sample_fields(epochs, "warm", applies=True) == {"page_cache": "warm"}
    assert page_cache.sample_fields(epochs, "cold", applies=False)["page_cache"] == "not applicable"


def test_cold_run_on_tmpfs_is_refused_before_measuring(tiny_dirs, tmp_path):
    if not SHM.is_dir():
        pytest.skip("no /dev/shm")
    import shutil

    data = SHM / f"pipebench-data-{os.getpid()}"
    shutil.copytree(tiny_dirs[1], data, symlinks=False)
    try:
        result = run_main("run", "--data-dir", str(data), "--variants", "tf_data_naive",
                          "--modes", "pipeline", "--page-cache", "cold", *TINY_ARGS,
                          "--results-dir", str(tmp_path))
    finally:
        shutil.rmtree(data)
    assert_one_line_error(result, "--page-cache cold", "valid: --page-cache warm")
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def cold_run(tmp_path_factory, isolated_cache):
    """A real run with a cold page cache and no training (a GPU user's `--modes pipeline,simulated`):
    file readers of each kind (a PyDataset read through Keras' fit among them), and a variant
    that reads memory."""
    results = tmp_path_factory.mktemp("cold")
    variants = "tf_data_naive,generator,tfrecord,sequence,in_memory_tensor_slices"
    result = run_cli("run", "--variants", variants,
                     "--modes", "pipeline,simulated", "--page-cache", "cold", *TINY_ARGS,
                     "--results-dir", str(results))
    assert result.returncode == 0, result.stderr[-3000:]
    path = next(results.glob("*/results.json"))
    return {**json.loads(path.read_text()), "run_dir": path.parent}


@pytest.mark.slow
def test_cold_epochs_read_their_files_from_storage(cold_run):
    assert cold_run["config"]["page_cache"] == "cold"
    checked = 0
    for cell in cold_run["cells"]:
        for run in cell["runs"]:
            if run["mode"] == "model_only":
                continue
            if cell["variant"] == "in_memory_tensor_slices":
                assert run["page_cache"] == "not applicable"
                continue
            assert run["status"] == "ok", run.get("error")
            assert run["page_cache"] == "cold" and not run.get("page_cache_flag")
            for epoch in run["epochs"][0 if run.get("warm_start") else 1:]:  # every timed epoch
                assert epoch["evicted_bytes"] > 0
                assert epoch["storage_read_bytes"] >= 0.9 * epoch["evicted_bytes"], (cell["variant"], epoch)
                checked += 1
    assert checked >= 8


@pytest.mark.slow
def test_a_run_without_training_recommends_from_the_simulated_accelerator(cold_run):
    from bench.results.analysis import analyse

    analysis = analyse(cold_run)
    assert analysis.mode == "simulated" and analysis.fastest is not None
    assert all(c.vs_fastest is not None for c in analysis.cells if c is not analysis.fastest)
    html = (cold_run["run_dir"] / "report.html").read_text()
    assert 'id="headline"' in html and "the simulated accelerator at 1,000 images/s" in html
    assert 'id="no-accuracy"' in html


@pytest.mark.slow
def test_warm_runs_read_almost_nothing_from_storage(quick_run):
    """Warm, a run's bytes from storage (its warm-up epoch included) are about nothing: the
    files were just written, so the page cache holds them (a lazily loaded library page may
    still come from storage, hence the MiB of slack)."""
    doc = json.loads((quick_run[1] / "results.json").read_text())
    total = doc["dataset"]["total_bytes"]
    counted = 0
    for cell in doc["cells"]:
        for run in cell["runs"]:
            if run["status"] == "ok" and run["mode"] != "model_only":
                assert run["page_cache"] in ("warm", "not applicable")
                assert run["run_storage_read_bytes"] <= 0.1 * total + 2**20, (cell["variant"], run["mode"])
                counted += 1
    assert counted >= 10
