"""Generated files: where they live, and building a folder so that no one ever sees half of it."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


def cache_root() -> Path:
    """Where generated data (datasets, TFRecords, folder views) lives; never committed."""
    env = os.environ.get("PIPEBENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "pipebench"


@contextlib.contextmanager
def built_atomically(folder: Path) -> Iterator[Path]:
    """Yield a private temporary folder; on success rename it to `folder`, on failure remove it.

    Readers test for `folder` (or a marker inside it), so a crash half-way leaves
    nothing that looks finished. When another process renamed its own copy first,
    ours is dropped: both were built from the same inputs.
    """
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        tmp.rename(folder)
    except OSError:  # finished concurrently by another process: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
