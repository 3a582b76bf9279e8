"""What is measured inside `model.fit`: delivered images, epoch times, the timed sample.

Delivered images are counted by a metric that adds up the batch size of every
step the model actually ran: it sees what arrived, whatever the input type, so
a finite iterator that runs dry before `steps_per_epoch` cannot inflate the
throughput (Keras only warns in that case). Times come from a callback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace

IMAGES_SEEN = "images_seen"


@dataclass(frozen=True)
class Epoch:
    """One epoch of a mode run as it was timed: images delivered, steps, its own seconds and
    the fit's clock at its end (`wall_s`), the fit's metrics, and what the harness added: the
    simulated accelerator's real sleep, and a cold epoch's storage figures (`EpochIO`)."""

    epoch: int
    images: int = 0
    steps: int = 0
    train_s: float = 0.0
    wall_s: float | None = None
    loss: float | None = None
    accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    slept_s: float | None = None
    storage_read_bytes: int | None = None
    evicted_bytes: int | None = None
    page_cache_s: float | None = None
    page_cache_cpu_s: float | None = None

    def with_fields(self, found: dict) -> Epoch:
        """This epoch with `found` (an `EpochIO` record, a measured sleep) merged in."""
        return replace(self, **found)

    def to_dict(self) -> dict:
        """The JSON record (results.json's `epochs`): what was measured (None left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


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
            self.epochs: list[Epoch] = []
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
            record = Epoch(epoch=epoch + 1, images=int(round(float(logs.get(IMAGES_SEEN, 0.0)))),
                           steps=self.steps, train_s=end - self.epoch_start, wall_s=end - self.fit_start,
                           loss=_float(logs.get("loss")), accuracy=_float(logs.get("accuracy")),
                           val_loss=_float(logs.get("val_loss")),
                           val_accuracy=_float(logs.get("val_accuracy")))
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
    """The timed sample of one mode run, from its per-epoch records."""

    images_per_sec: float | None
    images: int
    seconds: float
    warmup_included: bool


def steady_state(epochs: list[Epoch], warmup_epochs: int = 1) -> Throughput:
    """Images/s over the epochs after the first `warmup_epochs`, in one continuous window.

    The window runs from the start of the first timed epoch to the end of the last
    one's last batch, so whatever happens between epochs (an iterator restarted, or
    kept) is inside it for every variant; only the harness's own eviction and counting in
    the gap before an epoch (`page_cache_s`, `--page-cache cold`) is taken out. With no
    epoch left, every epoch (flagged).
    """
    steady = [e for e in epochs if e.epoch > warmup_epochs and e.images > 0]
    warmup = False
    if not steady:
        steady, warmup = [e for e in epochs if e.images > 0], True
    images = sum(e.images for e in steady)
    if steady and all(e.wall_s is not None for e in steady):
        first, last = steady[0], steady[-1]
        harness_s = sum(e.page_cache_s or 0.0 for e in steady[1:])  # --page-cache cold's gaps
        seconds = last.wall_s - (first.wall_s - first.train_s) - harness_s
    else:  # records without wall clock offsets (schema 1): the epochs' own times
        seconds = sum(e.train_s for e in steady)
    rate = images / seconds if seconds > 0 and images > 0 else None
    return Throughput(rate, images, seconds, warmup)
