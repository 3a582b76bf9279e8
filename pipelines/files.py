"""Generated files: where they live, and writing a file or building a folder so that no one
ever sees half of it (the harness writes its documents with the same helper)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
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


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
