"""How learnable the embedded dataset is, and how far 10% wrong labels move it: the basis of
the accuracy fit's settings (docs/method.md, "The accuracy band").

Fits the small CNN on the default preset's embedded data, decoded once into memory, for
each seed (initial weights and shuffle), once with the true labels and once with every
tenth label moved to the next class, and prints the validation accuracy after every epoch
and at the end. `--image-size`, `--num-train`, `--num-val` and `--num-classes` change the
default preset's dataset (the photo-like files are the same for every image size);
`--constant-lr` trains at Adam's 1e-3 without decay, as the timed trials did before the
accuracy fit.

    python docs/experiments/accuracy_curve.py [--seeds 0-6] [--epochs 16] [--init-seed 0] [--image-size 64]
                                   [--constant-lr]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def labels_with_noise(labels: np.ndarray, classes: int, every: int) -> np.ndarray:
    """Every `every`-th label moved to the next class (as tests/plugins/broken_data.py's label_noise_10)."""
    moved = [(y + 1) % classes if every and i % every == 0 else y for i, y in enumerate(labels)]
    return np.array(moved, np.int32)


def fit_curve(data, labels, seed: int, epochs: int, constant_lr: bool, init_seed: int | None,
              ema: bool = False) -> tuple[list[float], float]:
    """Validation accuracy after each epoch (the last one re-evaluated after the fit) and the
    final validation loss."""
    import keras
    import tensorflow as tf

    from bench.run.models import build_model

    (x, _), validation, spec = data
    steps = -(-len(labels) // 32)
    weights_seed = seed if init_seed is None else init_seed
    model, _ = build_model("small_cnn", spec.image_size, spec.num_classes, weights_seed,
                           decay_steps=None if constant_lr else steps * epochs)
    if constant_lr:
        model.optimizer.learning_rate.assign(1e-3)
    if ema:  # Adam keeping a moving average of the weights, evaluated at the end
        schedule = keras.optimizers.schedules.CosineDecay(3e-3, steps * epochs)
        model.compile(optimizer=keras.optimizers.Adam(schedule, use_ema=True, ema_momentum=0.9),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ds = tf.data.Dataset.from_tensor_slices((x, labels)).shuffle(len(labels), seed=seed).batch(32)
    history = model.fit(ds, epochs=epochs, validation_data=validation, verbose=0)
    curve = [round(float(a), 4) for a in history.history["val_accuracy"]]
    final = model.evaluate(*validation, verbose=0, return_dict=True)  # after EMA's overwrite, if any
    keras.backend.clear_session()
    return [*curve[:-1], round(float(final["accuracy"]), 4)], round(float(final["loss"]), 4)


def load(args):
    from bench.config import PRESETS
    from bench.data.dataset import resolve_spec
    from pipelines.decode import decode_all

    embedded = PRESETS["default"].dataset(0, image_size=args.image_size, num_train=args.num_train,
                                          num_val=args.num_val, num_classes=args.num_classes)
    spec, _ = resolve_spec(None, None, 0.2, embedded, 0)
    train = (decode_all(spec.train_files, spec.image_size, method=args.train_resize),
             np.asarray(spec.train_labels, np.int32))
    val = (decode_all(spec.val_files, spec.image_size, method=args.val_resize),
           np.asarray(spec.val_labels, np.int32))
    return train, val, spec


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-6", help="first-last, inclusive")
    parser.add_argument("--epochs", type=int, default=16)
    for flag in ("--train-resize", "--val-resize"):
        parser.add_argument(flag, default="bilinear", choices=("bilinear", "bilinear_antialias", "nearest"),
                            help="resize of the decoded training / validation images (default: reference's)")
    for flag in ("--image-size", "--num-train", "--num-val", "--num-classes"):
        parser.add_argument(flag, type=int, help="default: the default preset's")
    parser.add_argument("--constant-lr", action="store_true")
    parser.add_argument("--ema", action="store_true", help="Adam with a moving average of the weights (0.9)")
    parser.add_argument("--init-seed", type=int,
                        help="start every fit from this seed's weights, so that seeds vary the shuffle "
                        "order only (as the band's fits do); default: each seed its own weights")
    args = parser.parse_args()
    first, last = (int(v) for v in args.seeds.split("-"))
    data = load(args)
    found, losses = {}, {}
    for name, every in (("correct", 0), ("label_noise_10", 10)):
        labels = labels_with_noise(data[0][1], data[2].num_classes, every)
        for seed in range(first, last + 1):
            started = time.perf_counter()
            curve, loss = fit_curve(data, labels, seed, args.epochs, args.constant_lr, args.init_seed,
                                    args.ema)
            found.setdefault(name, []).append(curve[-1])
            losses.setdefault(name, []).append(loss)
            took_s = time.perf_counter() - started
            print(f"{name:15s} seed {seed}: final {curve[-1]:.3f}, loss {loss:.3f} ({took_s:.1f} s) {curve}",
                  flush=True)
    for name, finals in found.items():
        print(f"{name:15s} final accuracy: min {min(finals):.3f}, max {max(finals):.3f}, "
              f"mean {np.mean(finals):.3f}, sd {np.std(finals, ddof=1):.3f}")
    for name, values in losses.items():
        print(f"{name:15s} final loss: min {min(values):.3f}, max {max(values):.3f}, "
              f"mean {np.mean(values):.3f}, sd {np.std(values, ddof=1):.3f}")
    print(json.dumps({"accuracy": found, "loss": losses}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
