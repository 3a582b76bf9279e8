"""The four measurement modes, each run in the worker once per round of a cell.

* `pipeline`: the variant's batches with no model, iterated directly as
  `tfds.benchmark` does (a tf.data dataset, arrays, a generator). A PyDataset's
  workers only run under Keras' own adapter, so a PyDataset is read through
  `fit` with a stub consumer (global average pooling and one dense layer).
* `train`: the identical model, end to end, with no validation inside the timed fit.
* `model_only`: the identical model fed one batch already in memory, repeated:
  the ingestion-free upper bound for this model on this machine.
* `simulated`: the same reading plus a calibrated sleep of `step_s` after each
  batch. Sleeping releases the CPU, so the pipeline's threads and workers run on
  while the "accelerator" is busy, as they would beside a real one.

Every timed sample is calibrated, as pyperf calibrates its loops: once per cell
the worker takes real samples, longer until two in a row last at least
`min_sample_s` (`calibrate`), and fixes how many epochs (steps) a sample repeats;
every round then repeats that many. A sample's window is continuous, from the start of the first epoch after
the warm-up epoch to the end of the last batch, so the costs between epochs
(an iterator restarted, or not) count the same way for every variant. Each
sample keeps its images and seconds, and the CPU time of the same window (`clock`, a
`bench.run.cpu_clock.CpuClock`, read only at its two ends; none during calibration).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field, fields, replace

from bench.run.fit_timing import Epoch, fit_recorder, images_seen_metric, steady_state

TRIAL_ORDER = ("model_only", "pipeline", "simulated", "train")  # within one round of a cell
CALIBRATION_MARGIN = 1.1  # aim a little above the minimum, so that drift rarely undercuts it
MIN_MODEL_ONLY_STEPS = 10


@dataclass(frozen=True)
class ModeSettings:
    """What every mode of a cell shares."""

    image_size: tuple[int, int]
    num_classes: int
    batch_size: int
    num_train: int
    step_s: float  # simulated mode's accelerator step
    min_sample_s: float = 1.0  # every timed sample lasts at least this long (calibrated)


@dataclass(frozen=True)
class Loops:
    """How much each mode's timed sample repeats: fixed per cell by `calibrate_*` (pyperf's loops).

    Epoch counts are timed epochs after the one warm-up epoch; `train_epochs` is the
    whole training fit (at least the run's `--epochs`).
    """

    pipeline_epochs: int = 1
    simulated_epochs: int = 1
    model_only_steps: int = MIN_MODEL_ONLY_STEPS
    train_epochs: int = 2

    def to_dict(self) -> dict:
        return {"pipeline_epochs": self.pipeline_epochs, "simulated_epochs": self.simulated_epochs,
                "model_only_steps": self.model_only_steps, "train_epochs": self.train_epochs}


@dataclass(frozen=True)
class Calibration:
    """What a cell's calibration found: each mode's repeats and the seconds of one, the time it
    took, and the one-line error of a mode whose calibration failed (it keeps the defaults)."""

    min_sample_s: float
    model_only_steps: int | None = None
    model_only_step_s: float | None = None
    train_epochs: int | None = None
    train_epoch_s: float | None = None
    pipeline_epochs: int | None = None
    simulated_epochs: int | None = None
    pipeline_epoch_s: float | None = None
    calibration_s: float | None = None
    errors: dict[str, str] = field(default_factory=dict)  # "train" -> its error

    def loops(self, train_epochs: int) -> Loops:
        """The repeats found, the defaults where none was (`train_epochs` the run's fit)."""
        defaults = Loops(train_epochs=train_epochs)
        return replace(defaults, **{k: getattr(self, k) for k in defaults.to_dict()
                                    if getattr(self, k) is not None})

    def to_dict(self) -> dict:
        """Flat, as results.json keeps it: what was found, and `<mode>_error` for what failed."""
        found = {f.name: getattr(self, f.name) for f in fields(self)
                 if f.name != "errors" and getattr(self, f.name) is not None}
        return {**found, **{f"{mode}_error": error for mode, error in self.errors.items()}}


def repeats_for(unit_s: float, min_sample_s: float, least: int = 1) -> int:
    """How many units of `unit_s` seconds make a sample of at least `min_sample_s`."""
    if unit_s <= 0:
        return least
    return max(least, math.ceil(min_sample_s * CALIBRATION_MARGIN / unit_s))


def calibrate(sample_s, min_sample_s: float, first: int = 1, limit: int = 100_000) -> tuple[int, float]:
    """As pyperf calibrates loops: raise the repeats until one sample lasts long enough.

    `sample_s(repeats)` takes a real sample and returns its seconds. The repeats grow
    (at least doubling, or straight to what the last sample implies) until two samples
    in a row reach `min_sample_s` with a margin (one may have run while something else
    was still busy: a first sample of 3x its later length was seen on the 2-core VM,
    docs/measurements.md); returns the repeats and seconds per repeat.
    """
    repeats, confirmed = first, False
    aim = min_sample_s * CALIBRATION_MARGIN
    while True:
        seconds = sample_s(repeats)
        if seconds <= 0:  # nothing was read (an input that runs dry): longer will not help
            return repeats, 0.0
        long_enough = seconds >= aim
        if (long_enough and confirmed) or repeats >= limit:
            return repeats, seconds / repeats
        confirmed = long_enough
        if not long_enough:
            repeats = min(max(repeats * 2, repeats_for(seconds / repeats, min_sample_s)), limit)


@functools.lru_cache(maxsize=4)
def stub_consumer(image_size, num_classes):
    """A model of negligible cost that accepts the variant's batches (built once per process:
    its weights do not matter, and building and compiling it cost every PyDataset sample)."""
    import keras

    inputs = keras.Input(shape=(*image_size, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32")(pooled)
    model = keras.Model(inputs, outputs, name="stub_consumer")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[images_seen_metric()])
    return model


def delivered_by_fit(fit_input) -> list:
    """One epoch of a PyDataset's batches as Keras' `fit` receives them: from its workers
    (threads, or processes with `use_multiprocessing`), which run only under Keras' adapter,
    so that the data check sees what training sees. A model whose `train_step` keeps each
    batch (eagerly, on the TensorFlow backend; elsewhere the batches are read in order)."""
    import keras
    import numpy as np

    from pipelines.base import iterate_batches

    if keras.backend.backend() != "tensorflow":
        return list(iterate_batches(fit_input, 1))

    class Keeper(keras.Model):
        def __init__(self):
            super().__init__()
            self.kept = []
            self.head = keras.layers.Dense(1)

        def call(self, x):
            return self.head(keras.ops.mean(x, axis=(1, 2)))

        def train_step(self, data):
            x, y = data[0], data[1]
            self.kept.append((np.asarray(x), np.asarray(y)))
            return {"batches": keras.ops.convert_to_tensor(float(len(self.kept)))}  # fit needs an output

    keeper = Keeper()
    keeper.compile(run_eagerly=True)
    keeper.fit(fit_input.x, epochs=1, steps_per_epoch=fit_input.steps_per_epoch, verbose=0)
    return keeper.kept


@functools.lru_cache(maxsize=8)
def calibrated_sleep(step_s: float, samples: int = 20) -> float:
    """The argument to time.sleep that makes one sleep last `step_s` on average on this machine.

    Measured once per process and step (20 sleeps of the step: 0.64 s at the default's 32 ms,
    which every simulated sample of every round paid before), as pyperf calibrates once."""
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


def epoch_callback(io=None, cpu=None, first_epoch: int = 2, last_epoch: int = 2,
                   from_first_batch: bool = False):
    """A Keras callback around each epoch: `io` (`bench.run.page_cache.EpochIO`) brackets every
    epoch; `cpu` (`bench.run.cpu_clock.CpuWindow`) opens after epoch `first_epoch`'s eviction (or,
    `from_first_batch`, after the first batch) and closes before the last epoch's counting.

    Placed before the recorder, so that neither an eviction nor a CPU reading at an epoch's
    start is inside its `train_s`. The CPU window then holds the harness's gaps between its
    epochs only, whose CPU time each epoch records (`page_cache_cpu_s`) and the sample subtracts.
    """
    import keras

    class EpochCallback(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if io is not None and io.cold:
                io.begin()
            if cpu is not None and epoch + 1 == first_epoch and not from_first_batch:
                cpu.open()

        def on_train_batch_end(self, batch, logs=None):
            if cpu is not None and from_first_batch and cpu.start is None:
                cpu.open()

        def on_epoch_end(self, epoch, logs=None):
            if cpu is not None and epoch + 1 == last_epoch:
                cpu.close()
            if io is not None and io.cold:
                io.end()

    return EpochCallback()


def fit_and_record(model, fit_input, epochs: int, extra_callbacks=(), validation=None, on_epoch=None,
                   io=None, cpu=None, cpu_from_epoch: int = 2):
    """`model.fit` with the recorder (and `io` around each epoch, records merged); returns the recorder.

    `cpu` (a `CpuWindow`) is read at the start of epoch `cpu_from_epoch` (0: after the first
    batch) and at the end of the last epoch."""
    recorder = fit_recorder(on_epoch)
    cold = io is not None and io.cold
    first = ([epoch_callback(io, cpu, max(cpu_from_epoch, 1), epochs, cpu_from_epoch == 0)]
             if cold or cpu else [])
    model.fit(
        fit_input.x, fit_input.y, epochs=epochs, steps_per_epoch=fit_input.steps_per_epoch,
        validation_data=validation, callbacks=[*first, recorder, *extra_callbacks], verbose=0,
        **fit_input.fit_kwargs,
    )
    if io is not None:
        merged = [e.with_fields(found) for e, found in zip(recorder.epochs, io.records, strict=False)]
        recorder.epochs[:len(merged)] = merged
    return recorder


def record(recorder, loops: int, warmup_epochs: int = 1, io=None, cpu=None, **extra) -> dict:
    """The raw record of one mode run: its epochs, and the timed sample taken from them
    (with what it fetched from storage, when `io` counted it, and its CPU time, when `cpu`
    read it; the harness's own CPU time between cold epochs is taken out)."""
    from bench.run.page_cache import sample_fields

    sample = steady_state(recorder.epochs, warmup_epochs)
    storage = {}
    timed = [e for e in recorder.epochs if e.epoch > warmup_epochs] or recorder.epochs
    if io is not None:
        storage = sample_fields(timed, io.mode, io.files is not None)
    harness_cpu_s = sum(e.page_cache_cpu_s or 0.0 for e in timed[1:])  # the gaps inside the window
    cpu_fields = cpu.fields(harness_cpu_s) if cpu is not None and not sample.warmup_included else {}
    return {"epochs": [e.to_dict() for e in recorder.epochs], "first_batch_s": recorder.first_batch_s,
            "loops": loops,
            "images": sample.images, "seconds": sample.seconds, "images_per_sec": sample.images_per_sec,
            "warmup_included": sample.warmup_included, **storage, **cpu_fields, **extra}


class DirectRecorder:
    """Per-epoch records of a direct iteration, shaped like `bench.run.fit_timing.fit_recorder`'s."""

    def __init__(self):
        self.epochs: list[Epoch] = []
        self.first_batch_s: float | None = None


def batches_per_epoch(fit_input) -> int | None:
    """Batches per epoch of a finite tf.data dataset whose cardinality is known, else None."""
    x = fit_input.x
    if fit_input.steps_per_epoch is not None or not (hasattr(x, "cardinality") and hasattr(x, "repeat")):
        return None
    count = int(x.cardinality())
    return count if count > 0 else None  # -1: infinite, -2: unknown


def epoch_batches(fit_input, batch_size: int, epochs: int, fresh: bool = False):
    """Yield each epoch's batches (an iterator per epoch), for `epochs` epochs.

    A finite tf.data dataset of known length is read as `tfds.benchmark` reads it:
    one iterator over `dataset.repeat(epochs)`, cut into epochs by its length, since
    starting a tf.data iterator costs milliseconds (and the garbage it leaves triggers
    Python's cyclic collector) that belong to no epoch's input. Everything else is
    iterated anew per epoch, as `model.fit` does; so is every input when `fresh` (a cold
    page cache: one iterator over all epochs would read the next epoch's first files ahead,
    before their eviction).
    """
    import itertools

    from pipelines.base import iterate_batches

    per_epoch = batches_per_epoch(fit_input)
    if per_epoch is None or fresh:
        for _ in range(epochs):
            yield iterate_batches(fit_input, batch_size, as_numpy=False)
        return
    batches = iter(fit_input.x.repeat(epochs))
    for _ in range(epochs):
        yield itertools.islice(batches, per_epoch)


def iterate_directly(fit_input, batch_size: int, epochs: int, sleep_s: float = 0.0,
                     io=None, cpu=None, cpu_from_epoch: int = 2) -> DirectRecorder:
    """Read `epochs` epochs with a plain loop, sleeping `sleep_s` after each batch; `io` brackets
    each epoch (`bench.run.page_cache.EpochIO`), its eviction outside the epoch's time; `cpu`
    (a `CpuWindow`) opens before epoch `cpu_from_epoch` and closes after the last."""
    recorder, start = DirectRecorder(), time.perf_counter()
    cold = io is not None and io.cold
    for epoch, batches in enumerate(epoch_batches(fit_input, batch_size, epochs, fresh=cold), start=1):
        if io is not None and io.cold:
            io.begin()
        if cpu is not None and epoch == cpu_from_epoch:
            cpu.open()
        epoch_start, images, steps, slept_s = time.perf_counter(), 0, 0, 0.0
        for _, labels in batches:
            images, steps = images + int(labels.shape[0]), steps + 1
            if recorder.first_batch_s is None:
                recorder.first_batch_s = time.perf_counter() - start
            if sleep_s:
                slept = time.perf_counter()
                time.sleep(sleep_s)
                slept_s += time.perf_counter() - slept
        end = time.perf_counter()
        recorder.epochs.append(Epoch(epoch=epoch, images=images, steps=steps, slept_s=slept_s,
                                     train_s=end - epoch_start, wall_s=end - start))
        if cpu is not None and epoch == epochs:
            cpu.close()
        if io is not None and io.cold:
            io.end()
            recorder.epochs[-1] = recorder.epochs[-1].with_fields(io.records[-1])
    if cpu is not None:
        cpu.close()  # an input that ran dry before the last epoch
    return recorder


def read_epochs(fit_input, settings: ModeSettings, epochs: int, step_s: float = 0.0, io=None,
                cpu=None, cpu_from_epoch: int = 2):
    """Read `epochs` epochs of the variant's batches with no model, sleeping `step_s` per batch.

    A plain loop for everything publicly iterable; a PyDataset through `fit` with
    the stub consumer, since its workers only run under Keras' own adapter.
    Epoch records carry `steps` and `slept_s` (the sleep as it really lasted).
    """
    from pipelines.base import is_pydataset

    if not is_pydataset(fit_input.x):
        return iterate_directly(fit_input, settings.batch_size, epochs, calibrated_sleep(step_s), io,
                                cpu, cpu_from_epoch)
    model = stub_consumer(settings.image_size, settings.num_classes)
    step = simulated_step(step_s)
    recorder = fit_and_record(model, fit_input, epochs, extra_callbacks=[step], io=io, cpu=cpu,
                              cpu_from_epoch=cpu_from_epoch)
    recorder.epochs[:] = [e.with_fields({"slept_s": slept})
                          for e, slept in zip(recorder.epochs, step.slept_s, strict=True)]
    return recorder


def window(clock):
    """A `CpuWindow` on `clock`, or None where no CPU time is read (calibration)."""
    from bench.run.cpu_clock import CpuWindow

    return CpuWindow(clock) if clock is not None else None


def run_pipeline(fit_input, settings: ModeSettings, loops: int, io=None, clock=None) -> dict:
    """One warm-up epoch, then `loops` timed epochs of the input alone."""
    cpu = window(clock)
    return record(read_epochs(fit_input, settings, 1 + loops, io=io, cpu=cpu), loops, io=io, cpu=cpu)


def run_simulated(fit_input, settings: ModeSettings, loops: int, warm: bool = False, io=None,
                  clock=None) -> dict:
    """Read + a calibrated step per batch; AU = nominal busy time / the sample's time.

    `warm`: the pipeline was just read to its end (in pipeline mode, same round), so its
    caches are full and its warm-up epoch is skipped; every epoch read is timed.

    The accelerator is busy for `step_s` per step it was fed, however long the sleep
    really lasted (its overshoot is the harness's, not the pipeline's); the rate the
    simulated accelerator actually achieved is the sample's images/s, and the sleep's
    real length per step is kept beside it.
    """
    skipped = 0 if warm else 1
    cpu = window(clock)
    recorder = read_epochs(fit_input, settings, skipped + loops, settings.step_s, io, cpu, skipped + 1)
    steady = recorder.epochs[skipped:] or recorder.epochs
    steps = sum(e.steps for e in steady)
    result = record(recorder, loops, skipped, io=io, cpu=cpu, step_s=settings.step_s, warm_start=warm)
    busy_s, seconds = steps * settings.step_s, result["seconds"]
    return {**result, "au": min(busy_s / seconds, 1.0) if seconds else None,
            "achieved_step_s": sum(e.slept_s or 0.0 for e in steady) / steps if steps else None}


def calibrate_epochs(build, settings: ModeSettings) -> tuple[int, int, float]:
    """Timed epochs per sample for pipeline and simulated mode, and the epoch time they rest on.

    `build()` gives a fresh input; each try reads a warm-up epoch and the timed ones. A
    simulated epoch lasts at least its steps times the accelerator's step, however fast
    the input is.
    """
    steps: list[int] = []

    def sample_s(loops: int) -> float:
        record = run_pipeline(build(), settings, loops)
        steps.append(sum(e.get("steps", 0) for e in record["epochs"][1:]) // max(loops, 1))  # JSON form
        return record["seconds"]

    epochs, epoch_s = calibrate(sample_s, settings.min_sample_s)
    simulated_s = max(epoch_s, steps[-1] * settings.step_s)
    return epochs, repeats_for(simulated_s, settings.min_sample_s), epoch_s


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


def run_model_only(model, batch, settings: ModeSettings, loops: int, clock=None) -> dict:
    """The identical model on one resident batch: `loops` timed steps after one untimed step.

    One fit of `loops + 1` steps; the sample runs from the end of the first step (which
    starts the iterator) to the end of the last, so no warm-up epoch of full length is paid.
    """
    from pipelines.base import FitInput

    fit_input = FitInput(x=resident_batches(*batch), steps_per_epoch=loops + 1)
    cpu = window(clock)
    recorder = fit_and_record(model, fit_input, 1, cpu=cpu, cpu_from_epoch=0)
    seconds = recorder.last_batch_end - recorder.first_batch_end
    images = loops * settings.batch_size
    return {"epochs": [e.to_dict() for e in recorder.epochs], "first_batch_s": recorder.first_batch_s,
            "loops": loops, "images": images, "seconds": seconds,
            "images_per_sec": images / seconds if seconds > 0 else None, "warmup_included": False,
            **(cpu.fields() if cpu is not None else {})}


def calibrate_model_only(model, batch, settings: ModeSettings) -> tuple[int, float]:
    """Steps per model-only sample, and the step time it rests on."""
    return calibrate(lambda steps: run_model_only(model, batch, settings, steps)["seconds"],
                     settings.min_sample_s, first=MIN_MODEL_ONLY_STEPS)


def calibrate_train(model_at_start, build, settings: ModeSettings, epochs: int) -> tuple[int, float]:
    """Epochs of a timed training fit (at least `epochs`), and the epoch time they rest on.

    `model_at_start()` gives the model at its initial weights; each try is a real fit of a
    warm-up epoch and the timed ones, without validation, as the trials run it.
    """
    def sample_s(timed: int) -> float:
        return record(fit_and_record(model_at_start(), build(), 1 + timed), timed)["seconds"]

    timed, epoch_s = calibrate(sample_s, settings.min_sample_s, first=max(epochs - 1, 1))
    return 1 + timed, epoch_s


def run_train(model, fit_input, epochs: int, io=None, clock=None) -> dict:
    """The timed training fit of `epochs` epochs, with no validation inside it: a pipeline that
    keeps its iterator across epochs would go on producing during validation, an untimed head
    start the others do not get. Accuracy comes from the cell's untimed accuracy fit."""
    cpu = window(clock)
    return record(fit_and_record(model, fit_input, epochs, io=io, cpu=cpu), epochs - 1, io=io, cpu=cpu)
