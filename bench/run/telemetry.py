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
from dataclasses import asdict, dataclass, field, fields

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

    def read(self) -> list[GpuReading]:
        """Utilisation %, memory used and power of each GPU now; None for what cannot be read."""
        import pynvml

        def value(read):
            with contextlib.suppress(pynvml.NVMLError):
                return read()
            return None

        return [GpuReading(util_percent=value(lambda h=h: float(pynvml.nvmlDeviceGetUtilizationRates(h).gpu)),
                           memory_used_bytes=value(lambda h=h: int(pynvml.nvmlDeviceGetMemoryInfo(h).used)),
                           power_w=value(lambda h=h: pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0))
                for h in self.handles]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def gpu_info(pynvml, handle, index: int, driver: str) -> dict:
    """Name, compute capability, memory and driver of one GPU (a JSON record of the inventory)."""
    capability = memory = None
    with contextlib.suppress(pynvml.NVMLError):
        capability = "{}.{}".format(*pynvml.nvmlDeviceGetCudaComputeCapability(handle))
    with contextlib.suppress(pynvml.NVMLError):
        memory = int(pynvml.nvmlDeviceGetMemoryInfo(handle).total)
    known = {"compute_capability": capability, "memory_total_bytes": memory}
    return {"index": index, "name": _text(pynvml.nvmlDeviceGetName(handle)), "driver": driver,
            **{key: value for key, value in known.items() if value is not None}}


@dataclass(frozen=True)
class GpuReading:
    """One GPU at one sample; None for what NVML could not read."""

    util_percent: float | None = None
    memory_used_bytes: int | None = None
    power_w: float | None = None


@dataclass
class Series:
    """The raw time series, one entry per sample in every list (they grow while sampling)."""

    t: list[float] = field(default_factory=list)
    cpu_percent: list[list[float]] = field(default_factory=list)  # per core
    rss_bytes: list[int] = field(default_factory=list)  # the process tree's
    read_bytes: list[int] = field(default_factory=list)  # cumulative, the process tree's
    gpu: list[list[GpuReading]] = field(default_factory=list)

    def append(self, t: float, cpu: list[float], rss: int, reads: int, gpu: list[GpuReading]) -> None:
        self.t.append(t)
        self.cpu_percent.append(cpu)
        self.rss_bytes.append(rss)
        self.read_bytes.append(reads)
        self.gpu.append(gpu)

    def copy(self) -> Series:
        return Series(*(list(getattr(self, f.name)) for f in fields(self)))

    def to_dict(self) -> dict:
        plain = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**plain, "gpu": [[asdict(g) for g in sample] for sample in self.gpu]}

    @classmethod
    def from_dict(cls, raw: dict) -> Series:
        gpu = [[GpuReading(**g) for g in sample] for sample in raw.get("gpu", [])]
        return cls(*(list(raw.get(f.name, [])) for f in fields(cls) if f.name != "gpu"), gpu=gpu)


@dataclass
class Mark:
    """Where one measured phase started and ended on the sampler's clock (seconds)."""

    name: str
    start: float
    end: float | None = None
    labels: dict = field(default_factory=dict)  # e.g. trial=3

    def to_dict(self) -> dict:
        return {"name": self.name, **self.labels, "start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, raw: dict) -> Mark:
        labels = {k: v for k, v in raw.items() if k not in ("name", "start", "end")}
        return cls(raw["name"], raw["start"], raw.get("end"), labels)


@dataclass(frozen=True)
class PhaseSummary:
    """What the samples inside one mark say: mean CPU % (over cores), peak RSS, bytes read, GPUs."""

    cpu_percent: float | None = None
    peak_rss_bytes: int | None = None
    read_bytes: int | None = None
    gpu_util_percent: float | None = None
    gpu_memory_used_bytes: float | None = None
    gpu_power_w: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


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
        self.series = Series()
        self.marks: list[Mark] = []
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
        self.series.append(self.now(), psutil.cpu_percent(percpu=True), rss, reads,
                           self.gpu.read() if self.gpu.handles else [])

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
        mark = Mark(name, self.now(), labels=labels)
        self.marks.append(mark)
        try:
            yield mark
        finally:
            mark.end = self.now()
            self.sample()

    def snapshot(self) -> Series:
        """A copy of the series, consistent while the sampler runs."""
        with self._lock:
            return self.series.copy()

    def to_dict(self) -> dict:
        return {"interval_s": self.interval_s, "gpu_status": self.gpu.status,
                "gpus": self.gpu.inventory, "series": self.series.to_dict(),
                "marks": [m.to_dict() for m in self.marks], "sampler_cpu_s": self.cpu_s,
                "sampled_s": self.now()}


def mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def summarize_phase(series: Series, mark: Mark) -> PhaseSummary:
    """Mean CPU % (over cores), peak RSS, bytes read and mean GPU figures within one mark."""
    # a sample describes the interval before it, so the first one after the end still counts
    closing = next((t for t in series.t if t >= mark.end), mark.end)
    inside = [i for i, t in enumerate(series.t) if mark.start <= t <= closing]
    if not inside:
        return PhaseSummary()
    before = max(inside[0] - 1, 0)  # the last sample before the phase is its starting point
    gpus = [g for i in inside for g in series.gpu[i]]

    def gpu_mean(name: str) -> float | None:
        return mean([getattr(g, name) for g in gpus if getattr(g, name) is not None])

    return PhaseSummary(
        cpu_percent=mean([sum(c) / len(c) for i in inside if (c := series.cpu_percent[i])]),
        peak_rss_bytes=max(series.rss_bytes[i] for i in inside),
        read_bytes=max(series.read_bytes[inside[-1]] - series.read_bytes[before], 0),
        gpu_util_percent=gpu_mean("util_percent"), gpu_memory_used_bytes=gpu_mean("memory_used_bytes"),
        gpu_power_w=gpu_mean("power_w"))
