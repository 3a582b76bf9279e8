"""What is measured inside `model.fit`, and the statistics derived from raw samples.

Delivered images are counted by a metric that adds up the batch size of every
step the model actually ran: it sees what arrived, whatever the input type, so
a finite iterator that runs dry before `steps_per_epoch` cannot inflate the
throughput (Keras only warns in that case). Times come from a callback.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy import stats

IMAGES_SEEN = "images_seen"


def images_seen_metric():
    """A Keras metric whose result is the number of samples seen since its last reset."""
    import keras

    class ImagesSeen(keras.metrics.Metric):
        def __init__(self, name: str = IMAGES_SEEN, **kwargs):
            super().__init__(name=name, dtype="float32", **kwargs)
            self.count = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.count.assign_add(keras.ops.cast(keras.ops.shape(y_true)[0], "float32"))

        def result(self):
            # a copy: Keras reads epoch logs after validation has reset this variable
            return keras.ops.add(self.count, 0.0)

        def reset_state(self):
            self.count.assign(0.0)

    return ImagesSeen()


def fit_recorder(on_epoch=None):
    """A Keras callback that records per-epoch train time, counted images and accuracy.

    An epoch's train time runs from its start to its last batch's end, so the
    validation pass that Keras runs inside the epoch is not counted. `on_epoch`
    (if given) is called with each finished epoch's record, for progress display.
    """
    import keras

    class FitRecorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs: list[dict] = []
            self.fit_start = self.first_batch_end = None
            self.epoch_start = self.last_batch_end = None
            self.steps = 0

        def on_train_begin(self, logs=None):
            self.fit_start = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.perf_counter()
            self.last_batch_end = None
            self.steps = 0

        def on_train_batch_end(self, batch, logs=None):
            self.last_batch_end = time.perf_counter()
            self.steps += 1
            if self.first_batch_end is None:
                self.first_batch_end = self.last_batch_end

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            end = self.last_batch_end or time.perf_counter()
            record = {
                "epoch": epoch + 1,
                "images": int(round(float(logs.get(IMAGES_SEEN, 0.0)))),
                "steps": self.steps,
                "train_s": end - self.epoch_start,
                "loss": _float(logs.get("loss")),
                "accuracy": _float(logs.get("accuracy")),
                "val_loss": _float(logs.get("val_loss")),
                "val_accuracy": _float(logs.get("val_accuracy")),
                "wall_s": end - self.fit_start,
            }
            self.epochs.append(record)
            if on_epoch is not None:
                on_epoch(record)

        @property
        def first_batch_s(self) -> float | None:
            if self.first_batch_end is None:
                return None
            return self.first_batch_end - self.fit_start

    return FitRecorder()


def _float(value) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Throughput:
    """Steady-state throughput of one trial, from its per-epoch records."""

    images_per_sec: float | None
    images: int
    seconds: float
    warmup_included: bool


def steady_state(epochs: list[dict]) -> Throughput:
    """Images/s over epochs after the first; with only one epoch, over it (flagged)."""
    steady = [e for e in epochs if e["epoch"] > 1 and e["images"] > 0]
    warmup = False
    if not steady:
        steady, warmup = [e for e in epochs if e["images"] > 0], True
    images = sum(e["images"] for e in steady)
    seconds = sum(e["train_s"] for e in steady)
    rate = images / seconds if seconds > 0 and images > 0 else None
    return Throughput(rate, images, seconds, warmup)


@dataclass(frozen=True)
class Summary:
    """Median and a distribution-free 95% confidence interval of raw samples."""

    n: int
    median: float
    ci_low: float
    ci_high: float

    @property
    def unstable(self) -> bool:
        """True when the interval's half-width exceeds 5% of the median."""
        return self.n > 1 and (self.ci_high - self.ci_low) / 2 > 0.05 * abs(self.median)


def intervals_overlap(a_low: float, a_high: float, b_low: float, b_high: float) -> bool:
    """Whether two intervals share a point: where 95% intervals do, pipebench calls it noise."""
    return a_low <= b_high and b_low <= a_high


def summary_record(samples: list[float]) -> dict:
    """The raw samples with their median and 95% CI, as stored in profile and sweep records."""
    summary = summarize(samples)
    return {"samples": samples, "median": summary.median if summary else None,
            "ci_low": summary.ci_low if summary else None, "ci_high": summary.ci_high if summary else None}


def summarize(samples: list[float], confidence: float = 0.95) -> Summary | None:
    """Median with the order-statistic (binomial) confidence interval; needs no normality.

    With too few samples for the requested coverage, the interval is the full
    range of the samples (a wider, conservative interval).
    """
    values = np.sort(np.asarray([s for s in samples if s is not None and math.isfinite(s)], float))
    n = len(values)
    if n == 0:
        return None
    median = float(np.median(values))
    if n == 1:
        return Summary(1, median, median, median)
    low = int(stats.binom.ppf((1 - confidence) / 2, n, 0.5))
    high = int(stats.binom.isf((1 - confidence) / 2, n, 0.5))
    low, high = max(low - 1, 0), min(high, n - 1)
    return Summary(n, median, float(values[low]), float(values[high]))
