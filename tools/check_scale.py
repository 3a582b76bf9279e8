"""The data check on ImageNet-sized folders: the figures of docs/data.md, "Folders of ImageNet size".

Two measurements, each in a fresh folder under `--root` (default: a temporary folder):

* `check`: a folder of `--files` distinct photo-sized JPEGs (default 100,000) in `--classes`
  class folders. Each is one of 1,000 embedded-dataset images with a unique JPEG comment
  segment after its start marker, so every file has its own bytes (no train/validation
  duplicates) and costs a full decode. Times `pipebench check` twice, as a user runs it:
  the first run inspects every file (a process per core), the second reads the cache.
  Then one file is rewritten and the check is timed a third time.
* `scan`: a folder of `--paths` names (default 1,000,000, hard links to one JPEG per class,
  so it costs no disk), listed, split and sampled (`--subset 10000`) as a run does before any
  file is opened.

    python tools/check_scale.py [--files 100000] [--paths 1000000] [--root DIR] [--keep]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
ROOT = Path(__file__).resolve().parent.parent


def with_comment(jpeg: bytes, text: bytes) -> bytes:
    """The same JPEG with a COM segment after its SOI marker: other bytes, the same pixels."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + jpeg[2:]


def source_images(count: int) -> list[bytes]:
    from bench.config import PRESETS
    from bench.data.dataset import draw_file

    params = PRESETS["default"].dataset(0, num_train=count, num_val=0)
    return [draw_file(params, "train", i, i % params.num_classes) for i in range(count)]


def build_folder(folder: Path, files: int, classes: int) -> int:
    sources = source_images(1000)
    total = 0
    for i in range(files):
        data = with_comment(sources[i % len(sources)], f"pipebench scale copy {i}".encode())
        target = folder / f"class_{i % classes:04d}" / f"{i:07d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        total += len(data)
    return total


def timed_check(folder: Path, cache: Path) -> tuple[float, str]:
    env = dict(os.environ, PIPEBENCH_CACHE=str(cache), PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "bench", "check", "--data-dir", str(folder)],
                         capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"check failed ({out.returncode}): {out.stderr.strip().splitlines()[-1:]}")
    return seconds, out.stdout.strip().splitlines()[-1]


def measure_check(root: Path, files: int, classes: int) -> None:
    folder, cache = root / "images", root / "cache"
    started = time.perf_counter()
    total = build_folder(folder, files, classes)
    print(f"built {files:,} JPEGs ({total / 2**30:.2f} GiB, {classes} classes) in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    for label in ("first check", "second check"):
        seconds, last = timed_check(folder, cache)
        print(f"{label}: {seconds:.1f} s ({last})", flush=True)
    changed = next(folder.glob("class_0000/*.jpg"))
    changed.write_bytes(with_comment(changed.read_bytes(), b"changed"))
    seconds, last = timed_check(folder, cache)
    print(f"after changing one file: {seconds:.1f} s ({last})", flush=True)


def measure_scan(root: Path, paths: int, classes: int) -> None:
    from bench.data.checks import list_folders
    from bench.data.dataset import split_files, take_subset

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
    print(f"made {paths:,} paths in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    listing, _ = list_folders({"train": folder})
    listed = time.perf_counter()
    listing["train"], listing["val"] = split_files(listing["train"], 0.2, 0)
    split = time.perf_counter()
    take_subset(listing, 10_000, 0, str(folder))
    done = time.perf_counter()
    print(f"listed {sum(len(f) for f in listing['train'].values()):,} + "
          f"{sum(len(f) for f in listing['val'].values()):,} kept of {paths:,} paths: listing "
          f"{listed - started:.1f} s, split {split - listed:.1f} s, --subset 10000 {done - split:.1f} s",
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--paths", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--root", type=Path)
    parser.add_argument("--only", choices=("check", "scan"))
    parser.add_argument("--keep", action="store_true", help="leave the folders in place")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="pipebench-scale-"))
    print(f"{time.strftime('%Y-%m-%d %H:%M')} under {root}; {os.cpu_count()} cores", flush=True)
    try:
        if args.only in (None, "check"):
            measure_check(root / "check", args.files, args.classes)
        if args.only in (None, "scan"):
            measure_scan(root / "scan", args.paths, args.classes)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
