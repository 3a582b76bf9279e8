"""Pipeline mode against tfds.benchmark, the peer, on pipelines whose cost is known.

Two pipelines, each read in alternating, shuffled rounds by pipebench's pipeline mode
(`bench.run.modes.run_pipeline`: one warm-up epoch, then a calibrated sample of whole
epochs) and by `tfds.benchmark` (one iterator over the same epochs, repeated). A fixed
per-element cost (a sleep in `tf.py_function`) implies its own rate; the second
pipeline's per-batch cost is Python code inside `tf.py_function`, which holds the GIL.
tfds is read three ways: its `first+lasts` average, its `lasts` average, and `lasts`
counted right (its first batch of that window is not in its duration). It holds when
pipebench's median is within 5% of tfds' `lasts` counted right, in both cases. The rate
the sleep implies is printed beside them, not held to: each element also pays
`tf.py_function` and tf.data's hand-offs, about 1 ms on the 2-core VM, a fifth of 5 ms.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.run.known_cost import BATCH, IMAGE, python_per_batch, sleep_per_image
from bench.run.modes import ModeSettings, run_pipeline
from bench.run.telemetry import Sampler
from bench.stats import summarize
from bench.validate.common import Finding
from pipelines.base import FitInput

AGREEMENT = 0.05
TINY = ["--rounds", "2", "--images", "32"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--images", type=int, default=64, help="images per epoch of the sleeping pipeline")
    parser.add_argument("--sampler", action="store_true",
                        help="run pipebench's telemetry sampler during its reads")


def ours(dataset, count: int, loops: int, sampler: bool) -> float:
    settings = ModeSettings(image_size=IMAGE, num_classes=2, batch_size=BATCH, num_train=count, step_s=0.0)
    running = Sampler(hz=5.0).start() if sampler else None
    try:
        return run_pipeline(FitInput(x=dataset), settings, loops)["images_per_sec"]
    finally:
        if running is not None:
            running.stop()


def peer(dataset, count: int, loops: int) -> dict:
    """tfds.benchmark over a warm-up epoch then `loops` epochs in one iterator, read three ways."""
    import tensorflow_datasets as tfds  # a test dependency, not a run's: imported when this check runs

    batches = -(-count // BATCH)
    stats = tfds.benchmark(dataset.repeat(1 + loops), num_iter=batches * (1 + loops), batch_size=BATCH).stats
    lasts = stats.loc["lasts"]
    return {"first+lasts": float(stats.loc["first+lasts", "avg"]), "lasts": float(lasts["avg"]),
            "lasts counted right": float((lasts["num_examples"] - BATCH) / lasts["duration"])}


def one_case(name: str, make, count: int, loops: int, args, rng) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        readers = ["ours", "peer"]
        rng.shuffle(readers)
        got = {}
        for reader in readers:
            if reader == "ours":
                got["pipebench"] = ours(make(), count, loops, args.sampler)
            else:
                got.update(peer(make(), count, loops))
        for key, value in got.items():
            rows.setdefault(key, []).append(value)
    return rows


def run(args: argparse.Namespace, folder: Path) -> Finding:
    cases = {
        "sleep 5 ms per image": (lambda: sleep_per_image(args.images, 0.005), args.images, 4, 200.0),
        "Python loop per batch in py_function": (lambda: python_per_batch(4 * args.images, 60_000),
                                                 4 * args.images, 2, None),
    }
    rng = np.random.default_rng(0)
    lines, figures, held = [], {}, True
    for name, (make, count, loops, theory) in cases.items():
        rows = one_case(name, make, count, loops, args, rng)
        ours_s = summarize(rows["pipebench"])
        lines.append(f"{name}" + (f" (theory {theory:,.0f} images/s)" if theory else ""))
        for key, values in rows.items():
            s = summarize(values)
            lines.append(f"  {key:22s} median {s.median:9,.1f} images/s "
                         f"({s.low:,.1f}-{s.high:,.1f}, {s.coverage:.0%})")
        ratio = ours_s.median / summarize(rows["lasts counted right"]).median
        lines.append(f"  pipebench / tfds lasts counted right {ratio:.4f}")
        agrees = abs(ratio - 1) <= AGREEMENT
        if theory:
            lines.append(f"  pipebench / the sleep's rate {ours_s.median / theory:.4f} "
                         "(the sleep alone: py_function's own cost is not in it)")
        held = held and agrees
        figures[name] = {"theory_images_per_sec": theory, "samples": rows, "ratio_to_peer": ratio,
                         "agrees": agrees}
    return Finding("peer", held, tuple(lines), figures)
