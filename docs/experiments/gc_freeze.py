"""Does freezing the harness's long-lived heap (`gc.freeze`) take GC pauses out of training samples?

In one process, as a cell's worker holds them: the default preset's data, the
identical model, `tf_data_tuned` (or `--variant`). Samples of `--epochs` timed
epochs alternate between an unfrozen heap (`gc.unfreeze()`) and a frozen one
(`gc.collect(); gc.freeze()`), the order shuffled per pair; each records its
seconds and the seconds Python's collector ran inside it (`gc.callbacks`).
Prints both conditions' GC time and the spread of their rates.

    python docs/experiments/gc_freeze.py --pairs 12
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="tf_data_tuned")
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per sample (after one warm-up)")
    args = parser.parse_args(argv)

    from bench.config import PRESETS
    from bench.data.dataset import EmbeddedDataset
    from bench.run import in_process
    from bench.run.models import build_model
    from bench.run.modes import fit_and_record, record
    from bench.run.worker import GcPauses

    preset = PRESETS["default"]
    spec = in_process.small_spec(EmbeddedDataset(preset.num_train, preset.num_val, preset.image_size,
                                                 preset.num_classes))
    model, _ = build_model("small_cnn", spec.image_size, spec.num_classes, 0)
    samples: dict[str, list[tuple[float, float]]] = {"unfrozen": [], "frozen": []}
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.pairs):
            for condition in rng.sample(sorted(samples), 2):
                gc.unfreeze()
                if condition == "frozen":
                    gc.collect()
                    gc.freeze()
                built = in_process.built(args.variant, spec, Path(scratch))
                with built as (fit_input, _), GcPauses() as pauses:
                    timed = record(fit_and_record(model, fit_input, 1 + args.epochs), args.epochs)
                samples[condition].append((timed["images_per_sec"], pauses.seconds))
    for condition, values in samples.items():
        rates = np.array([v[0] for v in values])
        pauses_s = np.array([v[1] for v in values])
        cv = rates.std(ddof=1) / rates.mean()
        print(f"{condition:9s} images/s median {np.median(rates):,.0f}, CV {cv:.1%}, GC per sample "
              f"median {1000 * np.median(pauses_s):.0f} ms, max {1000 * pauses_s.max():.0f} ms, "
              f"over 50 ms in {(pauses_s > 0.05).sum()} of {len(pauses_s)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
