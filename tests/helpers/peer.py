"""Pipeline mode against `tfds.benchmark` on a pipeline of known cost, in a process of its own.

    python -m tests.helpers.peer sleep-per-image|python-per-batch ROUNDS

Prints the per-round ratios (pipebench / tfds) as JSON. It runs in a fresh interpreter,
as a cell's worker does, with its heap frozen after the imports (`gc.freeze`, as the
worker does after set-up): what the test process has accumulated by then (threads,
a large heap for the collector to walk) must not bias one reader against the other.
"""

from __future__ import annotations

import gc
import json
import sys

SLEEP_S = 0.005
CASES = {  # name: (make it from known_cost and the sleep request, images per epoch, repeats per sample)
    "sleep-per-image": (lambda cost, request: cost.sleep_per_image(64, SLEEP_S, request_s=request), 64, 3),
    "python-per-batch": (lambda cost, request: cost.python_per_batch(256, 40_000), 256, 8),
}


def peer_rate(dataset, count: int, loops: int, batch: int) -> float:
    """tfds.benchmark over a warm-up epoch and `loops` more in one iterator; its steady rate counted
    right (its own `lasts` row counts the first batch's images in the window after it)."""
    import tensorflow_datasets as tfds

    batches = -(-count // batch)
    lasts = tfds.benchmark(dataset.repeat(1 + loops), num_iter=batches * (1 + loops),
                           batch_size=batch).stats.loc["lasts"]
    return (lasts["num_examples"] - batch) / lasts["duration"]


def paired_ratios(case: str, rounds: int) -> list[float]:
    """Alternating rounds: pipebench's pipeline mode and tfds.benchmark on fresh copies of one pipeline.

    The sleep is calibrated once for the whole comparison: both readers read the same cost.
    """
    import tensorflow_datasets  # noqa: F401  (imported before timing)

    from bench.run import known_cost, modes
    from pipelines.base import FitInput

    make, count, loops = CASES[case]
    request_s = modes.calibrated_sleep(SLEEP_S, samples=50)
    settings = modes.ModeSettings(image_size=known_cost.IMAGE, num_classes=2, batch_size=known_cost.BATCH,
                                  num_train=count, step_s=0.0, min_sample_s=0.1)
    gc.collect()
    gc.freeze()
    ratios = []
    for round_ in range(rounds):
        rates = {}
        for reader in (("ours", "peer") if round_ % 2 == 0 else ("peer", "ours")):
            if reader == "ours":
                record = modes.run_pipeline(FitInput(x=make(known_cost, request_s)), settings, loops)
                rates[reader] = record["images_per_sec"]
            else:
                rates[reader] = peer_rate(make(known_cost, request_s), count, loops, known_cost.BATCH)
        ratios.append(rates["ours"] / rates["peer"])
    return ratios


if __name__ == "__main__":
    print(json.dumps(paired_ratios(sys.argv[1], int(sys.argv[2]))))
