"""Does a pipeline that keeps its iterator across epochs produce during Keras' validation?

    python docs/experiments/validation_headstart.py [--rounds 5]

One input whose batches cost 20 ms of sleep each (prefetch 4), fed to a tiny model
for 3 epochs of 16 batches, in two shapes: finite (Keras starts a new iterator
every epoch) and `repeat()` + `steps_per_epoch` (one iterator for the whole fit,
as tf.data service and `steps_per_epoch` pipelines are read). Each is timed two
ways: as pipebench 2 did (epoch time from the epoch's start to its last batch,
with Keras' validation of ~0.5 s between epochs left out) and as pipebench 3 does
(no validation inside the timed fit; one continuous window from epoch 2's start to
the last batch). Prints the images/s of each, paired by round.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCHES, COST_S, EPOCHS, PREFETCH = 16, 0.020, 3, 4


def dataset(persistent: bool):
    from bench.run import known_cost

    ds = known_cost.sleep_per_batch(BATCHES * known_cost.BATCH, COST_S).prefetch(PREFETCH)
    return (ds.repeat(), BATCHES) if persistent else (ds, None)


def slow_validation(seconds: float):
    """A validation set whose pass takes about `seconds` (a sleep per batch, nothing else)."""
    from bench.run import known_cost

    return known_cost.sleep_per_batch(4 * known_cost.BATCH, seconds / 4)


def tiny_model():
    import keras

    from bench.run.fit_timing import images_seen_metric
    from bench.run.known_cost import IMAGE

    inputs = keras.Input(shape=(*IMAGE, 3))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[images_seen_metric()])
    return model


def measure(persistent: bool, validate: bool) -> float:
    from bench.run.fit_timing import fit_recorder, steady_state

    x, steps = dataset(persistent)
    recorder = fit_recorder()
    tiny_model().fit(x, epochs=EPOCHS, steps_per_epoch=steps, verbose=0, callbacks=[recorder],
                     validation_data=slow_validation(0.5) if validate else None)
    if validate:  # pipebench 2: the epochs' own times, validation left out between them
        steady = recorder.epochs[1:]
        return sum(e.images for e in steady) / sum(e.train_s for e in steady)
    return steady_state(recorder.epochs).images_per_sec  # pipebench 3: one continuous window


def main() -> int:
    from bench.stats import summarize

    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 5
    configs = [(p, v) for p in (False, True) for v in (True, False)]
    rates: dict[tuple, list[float]] = {c: [] for c in configs}
    rng = np.random.default_rng(0)
    for round_ in range(rounds):
        for i in rng.permutation(len(configs)):
            rates[configs[i]].append(measure(*configs[i]))
        print(f"round {round_}: " + ", ".join(f"{rates[c][-1]:,.0f}" for c in configs), flush=True)
    theory = 8 / COST_S
    print(f"\ninput alone: {theory:,.0f} images/s (8 images per {COST_S * 1000:.0f} ms batch)")
    for persistent, validate in configs:
        s = summarize(rates[(persistent, validate)])
        shape = "repeat + steps_per_epoch" if persistent else "finite, new iterator each epoch"
        timing = ("pipebench 2 (validation between epochs, untimed)" if validate
                  else "pipebench 3 (no validation)")
        print(f"  {shape:32s} {timing:50s} {s.median:7,.0f} images/s ({s.low:,.0f}-{s.high:,.0f})")
    for validate in (True, False):
        ratio = summarize(np.array(rates[(True, validate)]) / np.array(rates[(False, validate)]))
        print(f"  persistent / finite, {'pipebench 2' if validate else 'pipebench 3'}: {ratio.median:.3f} "
              f"({ratio.low:.3f}-{ratio.high:.3f})")
    return 0


if __name__ == "__main__":
    started = time.time()
    code = main()
    print(f"took {time.time() - started:.0f} s")
    sys.exit(code)
