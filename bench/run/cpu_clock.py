"""CPU time over a timed sample's window: the cell's process tree, its main thread, its busiest
thread, and the tf.data service servers apart.

Wall-clock rates on a shared machine drift by tens of percent within minutes; the CPU time a
pipeline spends per image drifts several times less, and it is what carries over to another
machine. So every timed sample keeps, beside its images and seconds:

* `cpu_s`: user + system seconds of the cell's process and every descendant (TensorFlow's
  thread pools, PyDataset, joblib and multiprocessing workers, including those that exited
  and were reaped during the window), the tf.data service's servers left out;
* `service_cpu_s`: the same of the local tf.data service's servers (None where there are none);
* `main_thread_cpu_s`: the Python main thread's (Keras' loop, a plain iteration): the part
  that holds the GIL;
* `busiest_thread_cpu_s`: the most any one thread of the cell's process spent: work that no
  number of cores can spread (a sequential map, a generator's thread);
* `cpu_read_s`: how long the two readings took (outside the window: they are taken before its
  start and after its end).

This process's own time is read to the nanosecond; live children's and single threads' come
from /proc in 10 ms clock ticks.

CPU time does not see waiting: a pipeline that waits on storage, or on a sleeping simulated
accelerator, costs little and still goes slowly. That is why the wall rate is kept beside it.

Reading the tree walks /proc (milliseconds with TensorFlow's many threads), so it is done only
at the window's two ends, never per epoch: per-epoch readings slowed a cached pipeline's
measured rate 3x once (docs/data.md, "Cold storage").
"""

from __future__ import annotations

import contextlib
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil


@dataclass(frozen=True)
class CpuReading:
    """The CPU counters of a cell at one instant (seconds since some fixed origin)."""

    tree_s: float  # the cell's process and descendants, servers excluded, reaped children included
    service_s: float | None  # the servers' trees; None: no servers
    main_thread_s: float
    threads_s: dict[int, float] = field(default_factory=dict)  # thread id -> its CPU seconds
    main_thread_id: int | None = None


def process_cpu_s(proc: psutil.Process) -> float:
    """User + system seconds of `proc`, with those of its reaped children."""
    times = proc.cpu_times()
    return times.user + times.system + getattr(times, "children_user", 0.0) + getattr(
        times, "children_system", 0.0)


def own_cpu_s() -> float:
    """This process's user + system seconds (all threads, to the nanosecond: os.times and /proc
    count 10 ms ticks, ±3% of a 0.3 s sample), with its reaped children's (getrusage: µs)."""
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + reaped.ru_utime + reaped.ru_stime


class CpuClock:
    """Reads a `CpuReading` of this process's tree, with `servers()` (pids) counted apart.

    `servers` gives the pids of the local tf.data service's servers now (the supervisor may
    have replaced one); they are children of this process, so they are taken out of its tree.
    """

    def __init__(self, servers: Callable[[], list[int]] | None = None):
        self.servers = servers
        self.root = psutil.Process()

    def read(self, ending: bool = False) -> CpuReading:
        """The counters now. Starting a window, the cheap counters of this process are read last
        (just before the window opens); `ending` one, first (just after it closed), so that the
        reading's own CPU time falls outside the window."""
        if ending:
            own, main = own_cpu_s(), time.thread_time()
            rest = self._others()
        else:
            rest = self._others()
            own, main = own_cpu_s(), time.thread_time()
        children_s, service_s, threads = rest
        return CpuReading(tree_s=own + children_s, service_s=service_s, main_thread_s=main,
                          threads_s=threads, main_thread_id=threading.main_thread().native_id)

    def _others(self) -> tuple[float, float | None, dict[int, float]]:
        """Live descendants' CPU seconds (servers' subtrees apart), and this process's threads.

        One listing of the descendants (psutil walks every process of the machine to list
        children, milliseconds each time), split by whether a server is among a process's
        ancestors."""
        servers = set(self.servers()) if self.servers else set()
        try:
            descendants = self.root.children(recursive=True)
        except psutil.Error:
            descendants = []
        parent = {}
        for proc in descendants:
            with contextlib.suppress(psutil.Error):
                parent[proc.pid] = proc.ppid()
        mine = served = 0.0
        for proc in descendants:
            with contextlib.suppress(psutil.Error):
                if under(proc.pid, servers, parent):
                    served += process_cpu_s(proc)
                else:
                    mine += process_cpu_s(proc)
        try:
            threads = {t.id: t.user_time + t.system_time for t in self.root.threads()}
        except psutil.Error:
            threads = {}
        return mine, (served if self.servers else None), threads


def under(pid: int, roots: set[int], parent: dict[int, int]) -> bool:
    """Whether `pid` is one of `roots` or below one, following `parent` (pid -> its parent's)."""
    while pid not in roots:
        if pid not in parent:
            return False
        pid = parent[pid]
    return True


def window_fields(start: CpuReading | None, end: CpuReading | None, read_s: float = 0.0,
                  harness_cpu_s: float = 0.0) -> dict:
    """A sample's CPU fields from its window's two readings (empty if either is missing).

    `harness_cpu_s` is CPU time the harness itself spent inside the window, in the main
    thread (`--page-cache cold`'s evictions between epochs), taken out of the tree's and the
    main thread's. A thread that started inside the window counts from zero; one that ended
    inside it is lost to the busiest-thread figure only.
    """
    if start is None or end is None:
        return {}
    main_s = max(end.main_thread_s - start.main_thread_s - harness_cpu_s, 0.0)
    busiest = max((end.threads_s[t] - start.threads_s.get(t, 0.0) for t in end.threads_s
                   if t != end.main_thread_id), default=0.0)
    service = (end.service_s - start.service_s
               if end.service_s is not None and start.service_s is not None else None)
    return {"cpu_s": max(end.tree_s - start.tree_s - harness_cpu_s, 0.0), "service_cpu_s": service,
            "main_thread_cpu_s": main_s, "busiest_thread_cpu_s": max(busiest, main_s),
            "cpu_read_s": read_s}


class CpuWindow:
    """Brackets one sample's window: `open()` just before its start, `close()` just after its end.

    `clock` is a `CpuClock` (or, in tests, anything with `read(ending=...)`); the fields come
    from `fields()`, empty until both ends were read.
    """

    def __init__(self, clock):
        self.clock = clock
        self.start: CpuReading | None = None
        self.end: CpuReading | None = None
        self.read_s = 0.0

    def open(self) -> None:
        started = time.perf_counter()
        self.start, self.end = self.clock.read(ending=False), None
        self.read_s = time.perf_counter() - started

    def close(self) -> None:
        if self.start is None or self.end is not None:
            return
        started = time.perf_counter()
        self.end = self.clock.read(ending=True)
        self.read_s += time.perf_counter() - started

    def fields(self, harness_cpu_s: float = 0.0) -> dict:
        return window_fields(self.start, self.end, self.read_s, harness_cpu_s)
