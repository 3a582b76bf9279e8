"""The telemetry sampler: real samples of this process tree, phases, and the GPU path."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bench.run.telemetry import GpuProbe, Mark, Sampler, Series, summarize_phase
from tests.helpers.cli import ROOT


def busy(seconds: float) -> None:
    """CPU work in NumPy, which releases the GIL, so the sampler thread keeps its rate."""
    import numpy as np

    a = np.random.default_rng(0).random((300, 300))
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        a = np.tanh(a @ a)


@pytest.mark.timing  # samples at 20 Hz for 1 s
def test_sampler_keeps_series_and_marks_and_summarizes_each_phase():
    sampler = Sampler(hz=20).start()
    with sampler.phase("idle", trial=0):
        time.sleep(0.4)
    with sampler.phase("busy", trial=0):
        ballast = bytearray(64 * 2**20)  # 64 MiB, touched so it is resident
        ballast[::4096] = b"x" * len(ballast[::4096])
        busy(0.6)
    sampler.stop()
    data = sampler.to_dict()
    series = data["series"]
    assert len(series["t"]) >= 12  # 20 Hz over ~1 s, with slack for a loaded machine
    assert len(series["t"]) == len(series["cpu_percent"]) == len(series["rss_bytes"])
    assert [m["name"] for m in data["marks"]] == ["idle", "busy"]
    # as a report reads it back: the saved series and marks, typed again
    idle, hot = (summarize_phase(Series.from_dict(series), Mark.from_dict(m)) for m in data["marks"])
    assert hot.cpu_percent > idle.cpu_percent
    assert hot.peak_rss_bytes >= min(series["rss_bytes"]) + 32 * 2**20
    assert Series.from_dict(series) == sampler.series and data["marks"][0]["trial"] == 0
    del ballast


def test_rss_covers_child_processes():
    child = subprocess.Popen([sys.executable, "-c",
                              "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
                              "import time; time.sleep(3)"])
    try:
        sampler = Sampler(hz=10).start()
        with sampler.phase("with-child"):
            time.sleep(1.5)
        sampler.stop()
        summary = summarize_phase(sampler.series, sampler.marks[0])
        assert summary.peak_rss_bytes > 200 * 2**20
    finally:
        child.kill()
        child.wait()


def test_without_a_gpu_the_fields_say_why():
    probe = GpuProbe.open()
    if probe.handles:
        pytest.skip("an NVIDIA GPU answered: the no-GPU path does not apply here")
    assert probe.status.startswith("unavailable: ")
    sampler = Sampler(hz=10, gpu=probe).start()
    with sampler.phase("x"):
        time.sleep(0.3)
    sampler.stop()
    summary = summarize_phase(sampler.series, sampler.marks[0])
    assert summary.gpu_util_percent is None
    assert sampler.to_dict()["gpu_status"] == probe.status


def test_gpu_readings_where_nvml_answers():
    probe = GpuProbe.open()
    if not probe.handles:
        pytest.skip(f"no NVIDIA GPU via NVML here ({probe.status})")
    assert probe.inventory[0]["name"] and probe.inventory[0]["driver"]
    reading = probe.read()[0]
    assert 0 <= reading.util_percent <= 100
    assert reading.memory_used_bytes > 0


def test_telemetry_imports_and_samples_without_tensorflow():
    code = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
        "from bench.run.telemetry import Sampler, summarize_phase\n"
        "s = Sampler(hz=20).start()\n"
        "with s.phase('p'):\n    sum(range(10**6))\n"
        "s.stop(); print(summarize_phase(s.series, s.marks[0]).peak_rss_bytes > 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_rate_must_be_positive():
    with pytest.raises(ValueError):
        Sampler(hz=0)
