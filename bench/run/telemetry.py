"""Telemetry sampled beside every measured phase: CPU, memory, disk reads and NVIDIA GPUs.

This module imports neither TensorFlow nor Keras, so it can be checked on a
machine that has only a GPU driver and nvidia-ml-py. A `Sampler` runs a daemon
thread at a fixed rate and keeps raw time series; `phase()` marks where each
measured phase starts and ends, and `summarize_phase` derives its figures.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

import psutil


@dataclass
class GpuProbe:
    """NVML handles for every NVIDIA GPU, or the reason there are none."""

    handles: list = field(default_factory=list)
    inventory: list[dict] = field(default_factory=list)
    status: str = "not probed"

    @classmethod
    def open(cls) -> GpuProbe:
        try:
            import pynvml
        except ImportError:
            return cls(status="unavailable: nvidia-ml-py is not installed")
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
        except pynvml.NVMLError as exc:
            return cls(status=f"unavailable: NVML did not initialise ({exc})")
        if count == 0:
            return cls(status="unavailable: NVML found no NVIDIA GPU")
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        inventory = [gpu_info(pynvml, h, i, driver) for i, h in enumerate(handles)]
        return cls(handles=handles, inventory=inventory, status=f"ok: {count} GPU(s) via NVML")

    def read(self) -> list[dict]:
        """Utilisation %, memory used and power of each GPU now; None for what cannot be read."""
        import pynvml

        readings = []
        for handle in self.handles:
            reading = {"util_percent": None, "memory_used_bytes": None, "power_w": None}
            with contextlib.suppress(pynvml.NVMLError):
                reading["util_percent"] = float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            with contextlib.suppress(pynvml.NVMLError):
                reading["memory_used_bytes"] = int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)
            with contextlib.suppress(pynvml.NVMLError):
                reading["power_w"] = pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
            readings.append(reading)
        return readings


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def gpu_info(pynvml, handle, index: int, driver: str) -> dict:
    """Name, compute capability, memory and driver of one GPU."""
    info = {"index": index, "name": _text(pynvml.nvmlDeviceGetName(handle)), "driver": driver}
    with contextlib.suppress(pynvml.NVMLError):
        major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
        info["compute_capability"] = f"{major}.{minor}"
    with contextlib.suppress(pynvml.NVMLError):
        info["memory_total_bytes"] = int(pynvml.nvmlDeviceGetMemoryInfo(handle).total)
    return info


def process_tree(root: psutil.Process) -> list[psutil.Process]:
    """The process and all its descendants (PyDataset and joblib workers included)."""
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


def tree_rss_and_reads(root: psutil.Process) -> tuple[int, int]:
    """Summed RSS and bytes read (through read syscalls, page cache included) of the tree."""
    rss = reads = 0
    for proc in process_tree(root):
        with contextlib.suppress(psutil.Error):
            rss += proc.memory_info().rss
            io = proc.io_counters() if hasattr(proc, "io_counters") else None
            if io is not None:
                reads += getattr(io, "read_chars", io.read_bytes)
    return rss, reads


class Sampler:
    """Samples telemetry at `hz` in a daemon thread; keeps every sample and the phase marks."""

    def __init__(self, hz: float = 5.0, pid: int | None = None, gpu: GpuProbe | None = None):
        if hz <= 0:
            raise ValueError("hz must be > 0")
        self.interval_s = 1.0 / hz
        self.root = psutil.Process(pid)
        self.gpu = gpu if gpu is not None else GpuProbe.open()
        self.t0 = time.perf_counter()
        self.series: dict[str, list] = {"t": [], "cpu_percent": [], "rss_bytes": [], "read_bytes": [],
                                        "gpu": []}
        self.marks: list[dict] = []
        self.cpu_s = 0.0  # CPU time the sampling itself took, in the sampler's thread
        self._stop = threading.Event()
        self._lock = threading.Lock()  # a sample's series grow together
        self._running = threading.Event()  # cleared while paused: an idle cell samples nothing
        self._running.set()
        self._thread: threading.Thread | None = None

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def sample(self) -> None:
        rss, reads = tree_rss_and_reads(self.root)
        with self._lock:
            self._append(rss, reads)

    def _append(self, rss: int, reads: int) -> None:
        self.series["t"].append(self.now())
        self.series["cpu_percent"].append(psutil.cpu_percent(percpu=True))
        self.series["rss_bytes"].append(rss)
        self.series["read_bytes"].append(reads)
        self.series["gpu"].append(self.gpu.read() if self.gpu.handles else [])

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self._running.is_set():
                self._running.wait(self.interval_s)
                continue
            start = time.thread_time()
            self.sample()
            self.cpu_s += time.thread_time() - start

    def start(self) -> Sampler:
        psutil.cpu_percent(percpu=True)  # the first call only sets the reference point
        self._thread = threading.Thread(target=self._loop, name="pipebench-telemetry", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def pause(self) -> None:
        """Stop sampling until `resume` (between a cell's rounds, while other cells are timed)."""
        self.sample()
        self._running.clear()

    def resume(self) -> None:
        psutil.cpu_percent(percpu=True)  # CPU % is since the last call: not since the pause
        self._running.set()

    @contextlib.contextmanager
    def phase(self, name: str, **labels):
        """Mark a measured phase; its summary is computed from the samples inside it.

        A sample is taken as the phase ends, so a phase shorter than the sampling interval
        (a 0.05 s sample in the tests) still has the reading that describes it.
        """
        mark = {"name": name, **labels, "start": self.now(), "end": None}
        self.marks.append(mark)
        try:
            yield mark
        finally:
            mark["end"] = self.now()
            self.sample()

    def snapshot(self) -> dict:
        """`to_dict` with copies of the series, consistent while the sampler runs."""
        with self._lock:
            series = {key: list(values) for key, values in self.series.items()}
        return {**self.to_dict(), "series": series}

    def to_dict(self) -> dict:
        return {"interval_s": self.interval_s, "gpu_status": self.gpu.status,
                "gpus": self.gpu.inventory, "series": self.series, "marks": self.marks,
                "sampler_cpu_s": self.cpu_s, "sampled_s": self.now()}


def summarize_phase(telemetry: dict, mark: dict) -> dict:
    """Mean CPU % (over cores), peak RSS, bytes read and mean GPU figures within one mark."""
    series = telemetry["series"]
    # a sample describes the interval before it, so the first one after the end still counts
    closing = next((t for t in series["t"] if t >= mark["end"]), mark["end"])
    inside = [i for i, t in enumerate(series["t"]) if mark["start"] <= t <= closing]
    out = {"cpu_percent": None, "peak_rss_bytes": None, "read_bytes": None,
           "gpu_util_percent": None, "gpu_memory_used_bytes": None, "gpu_power_w": None}
    if not inside:
        return out
    cpu = [sum(c) / len(c) for i in inside if (c := series["cpu_percent"][i])]
    out["cpu_percent"] = sum(cpu) / len(cpu) if cpu else None
    out["peak_rss_bytes"] = max(series["rss_bytes"][i] for i in inside)
    before = max(inside[0] - 1, 0)  # the last sample before the phase is its starting point
    out["read_bytes"] = max(series["read_bytes"][inside[-1]] - series["read_bytes"][before], 0)
    for key, name in (("util_percent", "gpu_util_percent"), ("memory_used_bytes", "gpu_memory_used_bytes"),
                      ("power_w", "gpu_power_w")):
        values = [g[key] for i in inside for g in series["gpu"][i] if g.get(key) is not None]
        out[name] = sum(values) / len(values) if values else None
    return out
