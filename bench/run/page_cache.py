"""Cold or warm page cache (`--page-cache`): evict a sample's files, count what came from storage.

A dataset larger than RAM is read from storage on every epoch; one that fits is read
from the page cache after the first. `cold` measures the first case on any dataset:
before every timed epoch of a file-reading mode the worker evicts the files that the
epoch will read (the dataset, TFRecord shards, a disk cache) with
`posix_fadvise(POSIX_FADV_DONTNEED)`, which needs no root. Dirty pages are written
first (`fdatasync`), since the kernel drops only clean ones.

Every timed epoch, warm or cold, records the bytes its process tree fetched from
storage (`read_bytes` of `/proc/PID/io`: what the block layer delivered, not what
`read()` returned from the cache). A cold epoch that fetched far less than its files'
size is flagged: the eviction had no effect (tmpfs, a network or overlay mount, a
file held by another process's mapping) and the sample is not silently called cold.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

PAGE_CACHE = ("warm", "cold")
COLD_MIN_SHARE = 0.5  # a cold epoch that fetched less than this share of its files is flagged


@dataclass(frozen=True)
class Eviction:
    files: int
    bytes: int
    seconds: float
    failed: int  # files that could not be opened or advised


def evict(paths: Iterable[str]) -> Eviction:
    """Drop each file's pages from the page cache (after writing any dirty ones)."""
    started = time.perf_counter()
    files = total = failed = 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            failed += 1
            continue
        try:
            total += os.fstat(fd).st_size
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            files += 1
        except OSError:
            failed += 1
        finally:
            os.close(fd)
    return Eviction(files, total, time.perf_counter() - started, failed)


def files_under(folder: Path) -> list[str]:
    """Every regular file below `folder` (a disk cache's shards, written during the warm-up)."""
    if not folder.exists():
        return []
    return [str(p) for p in folder.rglob("*") if p.is_file()]


def storage_read_bytes(pid: int | None = None) -> int | None:
    """Bytes the process tree of `pid` (default: this one) has fetched from storage so far.

    Children that were reaped are already counted in their parent's figure; live ones
    (PyDataset workers, tf.data service servers) are added. None where the kernel keeps
    no I/O accounting.
    """
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total, counted = 0, False
    for proc in procs:
        try:
            total += proc.io_counters().read_bytes
            counted = True
        except (psutil.Error, AttributeError, NotImplementedError):
            continue
    return total if counted else None


class EpochIO:
    """With `--page-cache cold`, around each epoch: evict its files first, count what it fetched.

    `files` are what each epoch reads (None: the variant reads its timed epochs from
    memory, where the page cache does not apply); `scratch` is searched for disk-cache
    files at each eviction. `begin()` and `end()` bracket an epoch; `records` holds one
    dict per epoch, merged into the epoch records by the modes. The harness's own time in
    the gap before an epoch (the eviction, the counting) is `page_cache_s`, which the
    sample's window leaves out; its CPU time in the main thread, `page_cache_cpu_s`, which the
    sample's CPU time leaves out. Warm, nothing is done between epochs (counting the process
    tree's I/O costs milliseconds, a cached pipeline's whole epoch): the worker counts the
    bytes of the whole run instead (`run_storage_read_bytes`).
    """

    def __init__(self, mode: str, files: Sequence[str] | None, scratch: Path | None = None):
        self.mode, self.files, self.scratch = mode, files, scratch
        self.records: list[dict] = []
        self._start: int | None = None
        self._gap_s = 0.0
        self._gap_cpu_s = 0.0  # the main thread's CPU time in that gap (taken out of a sample's CPU)
        self._evicted: int | None = None

    @property
    def cold(self) -> bool:
        return self.mode == "cold" and self.files is not None

    def begin(self) -> None:
        if not self.cold:
            return
        started, cpu = time.perf_counter(), time.thread_time()
        extra = files_under(self.scratch) if self.scratch else []
        self._evicted = evict([*self.files, *extra]).bytes
        self._start = storage_read_bytes()
        self._gap_s += time.perf_counter() - started
        self._gap_cpu_s += time.thread_time() - cpu

    def end(self) -> None:
        if not self.cold:
            return
        started, cpu = time.perf_counter(), time.thread_time()
        after = storage_read_bytes()
        read = after - self._start if after is not None and self._start is not None else None
        self.records.append({"storage_read_bytes": read, "evicted_bytes": self._evicted,
                             "page_cache_s": self._gap_s, "page_cache_cpu_s": self._gap_cpu_s})
        self._gap_s = time.perf_counter() - started  # in the gap before the next epoch
        self._gap_cpu_s = time.thread_time() - cpu


def sample_fields(epochs: Sequence, mode: str, applies: bool) -> dict:
    """What a cold sample records of storage: bytes fetched and evicted, and a flag when cold
    had no effect. `epochs` are the sample's timed `Epoch`s (with `EpochIO` records merged in)."""
    if mode != "cold" or not applies:
        return {"page_cache": mode if applies else "not applicable"}
    read = [e.storage_read_bytes for e in epochs]
    evicted = [e.evicted_bytes or 0 for e in epochs]
    shares = [r / b for r, b in zip(read, evicted, strict=True) if r is not None and b]
    flag = None
    if None in read:
        flag = "no I/O accounting here: cannot tell whether the epochs read cold"
    elif shares and min(shares) < COLD_MIN_SHARE:
        flag = (f"cold had no effect: an epoch fetched {min(shares):.0%} of its files' bytes from storage "
                "(tmpfs, a network or overlay mount, or another process holding the pages)")
    return {"page_cache": mode, "storage_read_bytes": sum(read) if read and None not in read else None,
            "evicted_bytes": sum(evicted), "cold_read_share_min": min(shares) if shares else None,
            **({"page_cache_flag": flag} if flag else {})}


def probe(paths: Sequence[str]) -> str | None:
    """Why `--page-cache cold` cannot work on the storage holding `paths`, or None where it can.

    Evicts up to 64 of the files, reads them back and compares what came from storage with
    their size (small files are read a page at a time, so the figure can exceed the size).
    """
    if storage_read_bytes() is None:
        return "this kernel keeps no per-process I/O accounting (/proc/PID/io)"
    sample = list(paths[:64])
    size = sum(os.path.getsize(p) for p in sample)
    evict(sample)
    before = storage_read_bytes()
    for path in sample:
        with open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    fetched = storage_read_bytes() - before
    if size and fetched < COLD_MIN_SHARE * size:
        where = os.path.dirname(sample[0])
        return (f"evicting files under {where} from the page cache had no effect ({fetched:,} of {size:,} "
                "bytes came from storage): tmpfs, a network or an overlay mount")
    return None
