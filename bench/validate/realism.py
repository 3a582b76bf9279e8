"""Is the embedded dataset as costly to decode as photographs? The README's realism figure.

Decodes and resizes (to `--image-size`) the embedded dataset's training files and crops of
real photographs of the same sizes, in one process, in interleaved rounds whose order is
shuffled, and reports the CPU time per image of each (`time.process_time`: every thread of
the process) and their paired ratio per round, with an order-statistic interval.

The photographs are those that ship inside scikit-image's wheel (astronaut, chelsea, coffee,
motorcycle, rocket: nothing is downloaded; `pip install -e .[realism]`). Each embedded file's
width and height is matched by a crop at a random place in a photograph large enough to hold
it, encoded with the same encoder at the same quality (JPEG q90, 4:2:0), so that the two
sets differ in content only. Both are held in memory as encoded bytes: the figure is the
decode and resize, not the storage.

It holds when both decoders' ratios lie within 0.7-1.4x (the aim of the issue).
"""

from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from bench.config import PRESETS
from bench.data.dataset import ensure_embedded
from bench.data.photos import encode
from bench.errors import PipebenchError
from bench.stats import summarize
from bench.validate.common import Finding
from pipelines.decode import decode_resize, pil_decode, pil_resize_scale

AIM = (0.7, 1.4)
TINY = ["--rounds", "2", "--files", "16", "--preset", "quick"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--files", type=int, default=200, help="embedded training files (and as many crops)")
    parser.add_argument("--image-size", type=int, default=None, help="default: the preset's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="default", help="whose embedded dataset")


PHOTOS = ("astronaut", "chelsea", "coffee", "motorcycle_left", "motorcycle_right", "rocket")


def real_photographs() -> list[np.ndarray]:
    """The colour photographs shipped in scikit-image's wheel, as uint8 (H, W, 3) arrays."""
    from skimage import data  # the realism extra, not a run's dependency: imported when the check runs

    return [getattr(data, name)()[..., :3] for name in PHOTOS if hasattr(data, name)]


def crops_like(sizes: list[tuple[int, int]], photos: list[np.ndarray], seed: int) -> list[bytes]:
    """For each (width, height), a crop of a photograph that holds it, JPEG-encoded like the dataset's."""
    rng = np.random.default_rng(seed)
    out = []
    for width, height in sizes:
        fits = [p for p in photos if p.shape[0] >= height and p.shape[1] >= width]
        if not fits:
            raise PipebenchError(f"no photograph holds a {width}x{height} crop; "
                                 "valid: files no larger than the photographs")
        photo = fits[int(rng.integers(len(fits)))]
        top = int(rng.integers(photo.shape[0] - height + 1))
        left = int(rng.integers(photo.shape[1] - width + 1))
        out.append(encode(Image.fromarray(photo[top:top + height, left:left + width])))
    return out


def tf_decoder(image_size: int):
    """A function that decodes and resizes a list of encoded images with the reference decoder."""
    def run(blobs: list[bytes]) -> None:
        ds = tf.data.Dataset.from_tensor_slices(blobs)
        for _ in ds.map(lambda b: decode_resize(b, (image_size, image_size))):
            pass

    return run


def pil_decoder(image_size: int):
    def run(blobs: list[bytes]) -> None:
        for blob in blobs:
            pil_resize_scale(pil_decode(io.BytesIO(blob)), (image_size, image_size))

    return run


def measure(sets: dict[str, list[bytes]], decoders: dict, rounds: int, seed: int) -> list[dict]:
    """Per round, per decoder, per set: CPU and wall seconds per image (order shuffled per round)."""
    rng = np.random.default_rng(seed)
    samples = []
    pairs = [(d, s) for d in decoders for s in sets]
    for round_ in range(rounds):
        for index in rng.permutation(len(pairs)):
            decoder, name = pairs[index]
            cpu, wall = time.process_time(), time.perf_counter()
            decoders[decoder](sets[name])
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            samples.append({"round": round_, "decoder": decoder, "set": name, "images": len(sets[name]),
                            "cpu_us_per_image": 1e6 * cpu / len(sets[name]),
                            "wall_us_per_image": 1e6 * wall / len(sets[name]),
                            "loadavg_1m": os.getloadavg()[0], "time_unix": time.time()})
    return samples


def summarise(samples: list[dict]) -> dict:
    """Median CPU µs per image of each set and decoder, and the paired embedded/real ratio."""
    out = {}
    for decoder in sorted({s["decoder"] for s in samples}):
        by = {(s["round"], s["set"]): s["cpu_us_per_image"] for s in samples if s["decoder"] == decoder}
        rounds = sorted({r for r, _ in by})
        ratios = [by[(r, "embedded")] / by[(r, "real")] for r in rounds]
        interval = summarize(ratios)
        out[decoder] = {
            "embedded_cpu_us_per_image": float(np.median([by[(r, "embedded")] for r in rounds])),
            "real_cpu_us_per_image": float(np.median([by[(r, "real")] for r in rounds])),
            "ratio": interval.median, "ratio_low": interval.low, "ratio_high": interval.high,
            "coverage": interval.coverage, "rounds": len(rounds)}
    return out


def run(args: argparse.Namespace, folder: Path) -> Finding:
    preset = PRESETS[args.preset]
    image_size = args.image_size or preset.image_size
    root = ensure_embedded(preset.dataset(0))
    files = sorted((root / "train").rglob("*.jpg"))[: args.files]
    embedded = [f.read_bytes() for f in files]
    sizes = [Image.open(io.BytesIO(b)).size for b in embedded]
    sets = {"embedded": embedded, "real": crops_like(sizes, real_photographs(), args.seed)}
    decoders = {"tf.io decode + tf.image.resize": tf_decoder(image_size), "PIL": pil_decoder(image_size)}
    for decode in decoders.values():  # warm: TensorFlow's first call traces and starts its pools
        decode(embedded[:16])
    samples = measure(sets, decoders, args.rounds, args.seed)
    summary = summarise(samples)
    kib = {name: float(np.median([len(b) for b in blobs])) / 1024 for name, blobs in sets.items()}
    lines = [f"{len(files)} files each; median size: embedded {kib['embedded']:.1f} KiB, "
             f"real {kib['real']:.1f} KiB; resized to {image_size} px; {args.rounds} interleaved rounds; "
             f"load {os.getloadavg()[0]:.2f}"]
    for decoder, row in summary.items():
        lines.append(f"{decoder}: embedded {row['embedded_cpu_us_per_image']:,.0f} µs, real "
                     f"{row['real_cpu_us_per_image']:,.0f} µs of CPU per image; ratio {row['ratio']:.2f} "
                     f"({row['ratio_low']:.2f}-{row['ratio_high']:.2f}, {row['coverage']:.0%} coverage)")
    held = all(AIM[0] <= row["ratio"] <= AIM[1] for row in summary.values())
    return Finding("realism", held, tuple(lines), {"summary": summary, "median_kib": kib, "samples": samples})
