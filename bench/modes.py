"""The four measurement modes, each run in the worker for every trial of a cell.

* `pipeline`: the variant's batches with no model, iterated directly as
  `tfds.benchmark` does (a tf.data dataset, arrays, a generator). A PyDataset's
  workers only run under Keras' own adapter, so a PyDataset is read through
  `fit` with a stub consumer (global average pooling and one dense layer).
* `train`: the identical model, end to end.
* `model_only`: the identical model fed one batch already in memory, repeated:
  the ingestion-free upper bound for this model on this machine.
* `simulated`: the same reading plus a calibrated sleep of `step_s` after each
  batch. Sleeping releases the CPU, so the pipeline's threads and workers run on
  while the "accelerator" is busy, as they would beside a real one.

Every mode counts the images actually delivered and keeps per-epoch records of
the same shape as training's, so their rates are comparable.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from bench.measure import fit_recorder, images_seen_metric, steady_state

MODES = ("pipeline", "train", "model_only", "simulated")
MODEL_ONLY_STEPS = 10  # steps per model_only epoch at most: its rate settles quickly


@dataclass(frozen=True)
class ModeSettings:
    """What every mode of a cell shares."""

    image_size: tuple[int, int]
    num_classes: int
    batch_size: int
    num_train: int
    probe_epochs: int  # pipeline, model_only and simulated: one warm-up epoch, then steady state
    step_s: float  # simulated mode's accelerator step


def stub_consumer(image_size, num_classes):
    """A model of negligible cost that accepts the variant's batches."""
    import keras

    inputs = keras.Input(shape=(*image_size, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32")(pooled)
    model = keras.Model(inputs, outputs, name="stub_consumer")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[images_seen_metric()])
    return model


def calibrated_sleep(step_s: float, samples: int = 20) -> float:
    """The argument to time.sleep that makes one sleep last `step_s` on average on this machine."""
    if step_s <= 0:
        return 0.0
    overshoot = []
    for _ in range(samples):
        start = time.perf_counter()
        time.sleep(step_s)
        overshoot.append(time.perf_counter() - start - step_s)
    overshoot.sort()
    return max(step_s - overshoot[len(overshoot) // 2], 0.0)


def simulated_step(step_s: float):
    """A callback that sleeps after every batch, and records how long it actually slept."""
    import keras

    request_s = calibrated_sleep(step_s)

    class SimulatedStep(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.slept_s: list[float] = []
            self.epoch_slept_s = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_slept_s = 0.0

        def on_train_batch_end(self, batch, logs=None):
            if request_s:
                start = time.perf_counter()
                time.sleep(request_s)
                self.epoch_slept_s += time.perf_counter() - start

        def on_epoch_end(self, epoch, logs=None):
            self.slept_s.append(self.epoch_slept_s)

    return SimulatedStep()


def fit_and_record(model, fit_input, epochs: int, extra_callbacks=(), validation=None, on_epoch=None):
    """`model.fit` with the recorder; returns the recorder."""
    recorder = fit_recorder(on_epoch)
    model.fit(
        fit_input.x, fit_input.y, epochs=epochs, steps_per_epoch=fit_input.steps_per_epoch,
        validation_data=validation, callbacks=[recorder, *extra_callbacks], verbose=0,
        **fit_input.fit_kwargs,
    )
    return recorder


def record(recorder, **extra) -> dict:
    """The raw record of one mode run, with its steady-state rate derived from the epochs."""
    result = steady_state(recorder.epochs)
    return {"epochs": recorder.epochs, "first_batch_s": recorder.first_batch_s,
            "images_per_sec": result.images_per_sec, "warmup_included": result.warmup_included, **extra}


class DirectRecorder:
    """Per-epoch records of a direct iteration, shaped like `bench.measure.fit_recorder`'s."""

    def __init__(self):
        self.epochs: list[dict] = []
        self.first_batch_s: float | None = None


def iterate_directly(fit_input, settings: ModeSettings, sleep_s: float = 0.0) -> DirectRecorder:
    """Read `probe_epochs` epochs with a plain loop, sleeping `sleep_s` after each batch."""
    from pipelines.base import iterate_batches

    recorder, start = DirectRecorder(), time.perf_counter()
    for epoch in range(1, settings.probe_epochs + 1):
        epoch_start, images, steps, busy_s = time.perf_counter(), 0, 0, 0.0
        for _, labels in iterate_batches(fit_input, settings.batch_size, as_numpy=False):
            images, steps = images + int(labels.shape[0]), steps + 1
            if recorder.first_batch_s is None:
                recorder.first_batch_s = time.perf_counter() - start
            if sleep_s:
                slept = time.perf_counter()
                time.sleep(sleep_s)
                busy_s += time.perf_counter() - slept
        end = time.perf_counter()
        recorder.epochs.append({"epoch": epoch, "images": images, "steps": steps, "busy_s": busy_s,
                                "train_s": end - epoch_start, "wall_s": end - start})
    return recorder


def read_epochs(fit_input, settings: ModeSettings, step_s: float = 0.0):
    """Read the variant's batches with no model, sleeping `step_s` per batch; epochs carry busy_s.

    A plain loop for everything publicly iterable; a PyDataset through `fit` with
    the stub consumer, since its workers only run under Keras' own adapter.
    """
    from pipelines.base import is_pydataset

    if not is_pydataset(fit_input.x):
        return iterate_directly(fit_input, settings, calibrated_sleep(step_s))
    model = stub_consumer(settings.image_size, settings.num_classes)
    step = simulated_step(step_s)
    recorder = fit_and_record(model, fit_input, settings.probe_epochs, extra_callbacks=[step])
    for epoch, slept in zip(recorder.epochs, step.slept_s, strict=True):
        epoch["busy_s"] = slept
    return recorder


def run_pipeline(fit_input, settings: ModeSettings) -> dict:
    return record(read_epochs(fit_input, settings))


def run_simulated(fit_input, settings: ModeSettings) -> dict:
    """Read + calibrated step per batch; AU = time the 'accelerator' was busy / total time."""
    recorder = read_epochs(fit_input, settings, settings.step_s)
    steady = [e for e in recorder.epochs if e["epoch"] > 1] or recorder.epochs
    busy, total = sum(e["busy_s"] for e in steady), sum(e["train_s"] for e in steady)
    au = min(busy / total, 1.0) if total > 0 else None
    return record(recorder, au=au, step_s=settings.step_s)


def resident_batches(images, labels):
    """One batch, placed on the backend's default device once, yielded forever.

    TensorFlow: a `from_tensors(...).repeat()` dataset of constants. JAX: a
    generator of the same `jax.Array`s, already on the accelerator, so Keras'
    `device_put` of each step moves nothing and the bound excludes all transfer.
    """
    import keras

    if keras.backend.backend() == "jax":
        import jax

        on_device = jax.device_put(images), jax.device_put(labels)

        def forever():
            while True:
                yield on_device

        return forever()
    import tensorflow as tf

    return tf.data.Dataset.from_tensors((tf.constant(images), tf.constant(labels))).repeat()


def run_model_only(model, batch, settings: ModeSettings) -> dict:
    """The identical model on one resident batch, repeated (an epoch's steps, at most 10)."""
    from pipelines.base import FitInput

    steps = min(math.ceil(settings.num_train / settings.batch_size), MODEL_ONLY_STEPS)
    fit_input = FitInput(x=resident_batches(*batch), steps_per_epoch=steps)
    return record(fit_and_record(model, fit_input, settings.probe_epochs))
