"""The data check on folders of ImageNet size: the figures of docs/data.md, "Folders of ImageNet size".

Two measurements, each in a fresh folder under `--root` (default: a temporary folder):

* `check`: a folder of `--files` distinct photo-sized JPEGs (default 100,000) in `--classes`
  class folders. Each is one of 1,000 embedded-dataset images with a unique JPEG comment
  segment after its start marker, so every file has its own bytes (no train/validation
  duplicates) and costs a full decode. `pipebench check` is timed twice, as a user runs
  it: the first inspects every file (a process per core), the second reads the cache.
  Then one file is rewritten and the check is timed a third time.
* `scan`: a folder of `--paths` names (default 1,000,000, hard links to one JPEG per class,
  so it costs no disk), listed, split and sampled (`--subset 10000`) as a run does before
  any file is opened.

It holds when the second check takes at most 5 s (the issue's aim for 100,000 files).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.config import PRESETS
from bench.data.checks import list_folders
from bench.data.dataset import draw_file, split_files, take_subset
from bench.errors import PipebenchError
from bench.validate.common import REPO_ROOT, Finding

SECOND_CHECK_S = 5.0
TINY = ["--files", "60", "--classes", "3", "--paths", "300", "--subset", "30"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--paths", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--subset", type=int, default=10_000, help="the scan's --subset")
    parser.add_argument("--root", type=Path, help="where the folders go (default: a temporary folder)")
    parser.add_argument("--only", choices=("check", "scan"))
    parser.add_argument("--keep", action="store_true", help="leave the folders in place")


def with_comment(jpeg: bytes, text: bytes) -> bytes:
    """The same JPEG with a COM segment after its SOI marker: other bytes, the same pixels."""
    if jpeg[:2] != b"\xff\xd8":
        raise PipebenchError("the embedded dataset's file is not a JPEG; valid: a JPEG")
    return jpeg[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + jpeg[2:]


def source_images(count: int) -> list[bytes]:
    params = PRESETS["default"].dataset(0, num_train=count, num_val=0)
    return [draw_file(params, "train", i, i % params.num_classes) for i in range(count)]


def build_folder(folder: Path, files: int, classes: int) -> int:
    sources = source_images(min(files, 1000))
    total = 0
    for i in range(files):
        data = with_comment(sources[i % len(sources)], f"pipebench scale copy {i}".encode())
        target = folder / f"class_{i % classes:04d}" / f"{i:07d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        total += len(data)
    return total


def timed_check(folder: Path, cache: Path) -> tuple[float, str]:
    env = dict(os.environ, PIPEBENCH_CACHE=str(cache), PYTHONPATH=str(REPO_ROOT))
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "bench", "check", "--data-dir", str(folder)],
                         capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise PipebenchError(f"pipebench check failed (status {out.returncode}): {last}")
    return seconds, out.stdout.strip().splitlines()[-1]


def measure_check(root: Path, files: int, classes: int) -> tuple[list[str], dict]:
    folder, cache = root / "images", root / "cache"
    started = time.perf_counter()
    total = build_folder(folder, files, classes)
    lines = [f"built {files:,} JPEGs ({total / 2**30:.2f} GiB, {classes} classes) in "
             f"{time.perf_counter() - started:.0f} s"]
    seconds = {}
    for label in ("first check", "second check"):
        seconds[label], last = timed_check(folder, cache)
        lines.append(f"{label}: {seconds[label]:.1f} s ({last})")
    changed = next(folder.glob("class_0000/*.jpg"))
    changed.write_bytes(with_comment(changed.read_bytes(), b"changed"))
    seconds["after a change"], last = timed_check(folder, cache)
    lines.append(f"after changing one file: {seconds['after a change']:.1f} s ({last})")
    return lines, {"files": files, "bytes": total, "seconds": seconds}


def measure_scan(root: Path, paths: int, classes: int, subset: int) -> tuple[list[str], dict]:
    folder = root / "names"
    image = source_images(1)[0]
    started = time.perf_counter()
    sources = []  # a file per class: a file takes at most 65,000 links on ext4
    for c in range(classes):
        (folder / f"class_{c:04d}").mkdir(parents=True)
        sources.append(root / f"source_{c:04d}.jpg")
        sources[-1].write_bytes(image)
    for i in range(paths):
        os.link(sources[i % classes], folder / f"class_{i % classes:04d}" / f"{i:07d}.jpg")
    made = time.perf_counter() - started
    started = time.perf_counter()
    listing, _ = list_folders({"train": folder})
    listed = time.perf_counter()
    listing["train"], listing["val"] = split_files(listing["train"], 0.2, 0)
    split = time.perf_counter()
    take_subset(listing, subset, 0, str(folder))
    done = time.perf_counter()
    kept = sum(len(f) for f in listing["train"].values()) + sum(len(f) for f in listing["val"].values())
    line = (f"made {paths:,} paths in {made:.0f} s; listed {kept:,} of them: "
            f"listing {listed - started:.1f} s, "
            f"split {split - listed:.1f} s, --subset {subset} {done - split:.1f} s")
    return [line], {"paths": paths, "listed": kept, "listing_s": listed - started, "split_s": split - listed,
                    "subset_s": done - split}


def run(args: argparse.Namespace, folder: Path) -> Finding:
    root = args.root or Path(tempfile.mkdtemp(prefix="pipebench-scale-"))
    lines, figures = [f"under {root}; {os.cpu_count()} cores"], {}
    try:
        if args.only in (None, "check"):
            found, figures["check"] = measure_check(root / "check", args.files, args.classes)
            lines += found
        if args.only in (None, "scan"):
            found, figures["scan"] = measure_scan(root / "scan", args.paths, args.classes, args.subset)
            lines += found
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    check = figures.get("check")
    held = None if check is None else check["seconds"]["second check"] <= SECOND_CHECK_S
    return Finding("check-scale", held, tuple(lines), figures)
