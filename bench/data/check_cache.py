"""The data check at scale: files inspected in parallel, and what was found kept between runs.

Decoding every file costs about 0.7 ms each (photo-sized JPEGs, one core): 15 minutes for
ImageNet's 1.28 million training images on every run. So each file's inspection
(`bench.data.checks.Inspected`, which does not depend on the run's image size) is kept in
an SQLite table under the cache root, keyed by the file's path, size, modification time,
status-change time and the check's version (`bench.data.checks.CHECK_VERSION`). A second
check over an unchanged folder stats each file and reads the table; a file written,
replaced or `chmod`-ed since is inspected again. Files to inspect are spread over a process
per core when there are enough of them to pay for the processes' start.

This module knows nothing of what a check finds: `cached_map` maps a function over files.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from pipelines.files import cache_root

T = TypeVar("T")
PARALLEL_FROM = 256  # fewer files than this are handled in this process


def cache_path() -> Path:
    return cache_root() / "data-check.sqlite"


def file_key(path: str) -> tuple[int, int, int] | None:
    """(size, mtime_ns, ctime_ns) of the file a path names, or None where it cannot be stat-ed."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns


class FileCache:
    """The table of earlier results; every failure to open or write it means "no cache"."""

    def __init__(self, version: str, path: Path | None = None):
        self.version, self.path = version, path or cache_path()
        self.db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.execute("CREATE TABLE IF NOT EXISTS inspected (path TEXT PRIMARY KEY, size INTEGER, "
                            "mtime_ns INTEGER, ctime_ns INTEGER, version TEXT, record TEXT)")
        except (sqlite3.Error, OSError):
            self.db = None

    def lookup(self, keys: dict[str, tuple[int, int, int]]) -> dict[str, object]:
        """The kept results (decoded JSON) of these paths whose file is unchanged since."""
        if self.db is None or not keys:
            return {}
        found = {}
        try:
            paths = list(keys)
            for start in range(0, len(paths), 900):  # SQLite's limit on bound parameters
                chunk = paths[start:start + 900]
                rows = self.db.execute(
                    f"SELECT path, size, mtime_ns, ctime_ns, version, record FROM inspected "
                    f"WHERE path IN ({','.join('?' * len(chunk))})", chunk)
                for path, size, mtime, ctime, version, record in rows:
                    if version == self.version and (size, mtime, ctime) == keys[path]:
                        found[path] = json.loads(record)
        except sqlite3.Error:
            return {}
        return found

    def store(self, records: dict[str, object], keys: dict[str, tuple[int, int, int]]) -> None:
        """Keep these results (path -> JSON-able record), keyed by the files' stat as read before."""
        if self.db is None:
            return
        rows = [(path, *keys[path], self.version, json.dumps(record)) for path, record in records.items()
                if path in keys]
        try:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO inspected VALUES (?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error:
            pass

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def cached_map(paths: Sequence[str], func: Callable[[str], T], version: str,
               encode: Callable[[T], object], decode: Callable[[str, object], T],
               keep: Callable[[T], bool] = lambda _: True, cache: bool = True,
               workers: int | None = None) -> dict[str, T]:
    """`func(path)` of every path: kept results where the file is unchanged, else computed anew
    (over a process per core when there are many) and kept when `keep` says so."""
    keys = {p: k for p in paths if (k := file_key(p)) is not None}
    kept = FileCache(version) if cache else None
    try:
        found = {p: decode(p, r) for p, r in kept.lookup(keys).items()} if kept else {}
        todo = [p for p in paths if p not in found]
        fresh = dict(zip(todo, map_files(todo, func, workers), strict=True))
        if kept:
            kept.store({p: encode(r) for p, r in fresh.items() if keep(r)}, keys)
    finally:
        if kept:
            kept.close()
    found.update(fresh)
    return {p: found[p] for p in paths}


def map_files(paths: Sequence[str], func: Callable[[str], T], workers: int | None = None) -> list[T]:
    """`func` of each path, over a process per core when there are many (`func` must be importable)."""
    workers = workers or os.cpu_count() or 1
    if len(paths) < PARALLEL_FROM or workers == 1:
        return [func(p) for p in paths]
    chunk = max(16, len(paths) // (16 * workers))
    with process_pool(workers) as pool:
        return list(pool.map(func, paths, chunksize=chunk))


def process_pool(workers: int):
    """A pool of `workers` processes: forked where this process has one thread (the command
    line's case: nothing re-imported), from a fork server where threads run, since a fork
    copies locks that other threads may hold."""
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if threading.active_count() == 1 else "forkserver"
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))
