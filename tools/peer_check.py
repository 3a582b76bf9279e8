"""Pipeline mode against tfds.benchmark, the peer, on pipelines whose cost is known.

    python tools/peer_check.py [--rounds 8] [--sampler]

Two pipelines, each read in alternating, shuffled rounds by pipebench's pipeline
mode (`bench.run.modes.run_pipeline`: one warm-up epoch, then a calibrated sample of
whole epochs) and by `tfds.benchmark` (one iterator over the same epochs,
repeated). The fixed per-element cost (a sleep in `tf.py_function`) implies its
own rate; the second pipeline's per-batch cost is Python code (a loop) inside
`tf.py_function`, which holds the GIL. For tfds three readings are printed: its
`first+lasts` row, its `lasts` row, and `lasts` counted right (the first batch's
images are not in the timed window). With `--sampler`, pipebench's telemetry
thread runs during pipebench's reads, as it does in a run. Prints per round and
the medians of the per-round ratios with their intervals.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.run.known_cost import BATCH, IMAGE, python_per_batch, sleep_per_image  # noqa: E402


def ours(dataset, count: int, loops: int, sampler: bool) -> float:
    from bench.run.modes import ModeSettings, run_pipeline
    from bench.run.telemetry import Sampler
    from pipelines.base import FitInput

    settings = ModeSettings(image_size=IMAGE, num_classes=2, batch_size=BATCH, num_train=count, step_s=0.0)
    running = Sampler(hz=5.0).start() if sampler else None
    try:
        return run_pipeline(FitInput(x=dataset), settings, loops)["images_per_sec"]
    finally:
        if running is not None:
            running.stop()


def peer(dataset, count: int, loops: int) -> dict:
    """tfds.benchmark over a warm-up epoch then `loops` epochs in one iterator, read three ways."""
    import tensorflow_datasets as tfds

    batches = -(-count // BATCH)
    stats = tfds.benchmark(dataset.repeat(1 + loops), num_iter=batches * (1 + loops), batch_size=BATCH).stats
    lasts = stats.loc["lasts"]
    return {"first+lasts": stats.loc["first+lasts", "avg"], "lasts": lasts["avg"],
            "lasts counted right": (lasts["num_examples"] - BATCH) / lasts["duration"]}


def main() -> int:
    from bench.stats import summarize

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--sampler", action="store_true",
                        help="run pipebench's telemetry sampler during its reads")
    args = parser.parse_args()
    cases = {
        "sleep 5 ms per image (theory: 200 images/s)": (lambda: sleep_per_image(64, 0.005), 64, 4, 200.0),
        "Python loop per batch in py_function": (lambda: python_per_batch(256, 60_000), 256, 2, None),
    }
    rng = np.random.default_rng(0)
    for name, (make, count, loops, theory) in cases.items():
        rows: dict[str, list[float]] = {}
        for round_ in range(args.rounds):
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
            print(f"{name} round {round_}: " + ", ".join(f"{k} {v:,.1f}" for k, v in got.items()), flush=True)
        print(f"\n{name}" + (f" (theory {theory:,.0f} images/s)" if theory else ""))
        for key, values in rows.items():
            s = summarize(values)
            print(f"  {key:22s} median {s.median:9,.1f} images/s "
                  f"({s.low:,.1f}-{s.high:,.1f}, {s.coverage:.0%})")
        for key in [k for k in rows if k != "pipebench"]:
            ratios = summarize(np.array(rows["pipebench"]) / np.array(rows[key]))
            print(f"  pipebench / {key:22s} {ratios.median:.4f} ({ratios.low:.4f}-{ratios.high:.4f}, "
                  f"{ratios.coverage:.0%})")
        if theory:
            s = summarize(rows["pipebench"])
            print(f"  pipebench / theory             {s.median / theory:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
