"""What a cell's worker pays once before its trials, one job each: the model and its initial
weights (`InitialModel`), the accuracy fits that are also the warm-up (`AccuracyFits`), the data
check (`check_data`) and the calibration of each mode's sample length (`calibrate`).

`bench.run.worker.CellWorker` holds one of each and runs the trials; these parts take what they
need from it as plain arguments (the job, a pipeline factory), so that each can be read alone.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable

from bench.data.equivalence import Equivalence, check_delivery
from bench.results.records import AccuracyFit
from bench.run import modes
from bench.run.job import Job
from bench.run.models import build_model, weights_sha256
from pipelines import augment
from pipelines.augment import IN_PIPELINE
from pipelines.base import is_pydataset, iterate_batches
from pipelines.decode import decode_all

PipelineFactory = Callable[[int], tuple]  # seed offset -> (a freshly built FitInput, build seconds)


def one_line(exc: BaseException) -> str:
    """An exception as the one line that a record's `error` keeps: its type and first line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip().rstrip(":")


class InitialModel:
    """The cell's model, built and compiled once, and put back to its initial state on demand.

    Before every later fit its weights and optimizer state are restored to the snapshot taken
    at build time (checked by hash), so each trial starts from identical weights without
    tracing anew. The learning rate decays over the accuracy fit's steps (`accuracy_epochs`).
    """

    def __init__(self, job: Job, accuracy_epochs: int):
        self.job, self.accuracy_epochs = job, accuracy_epochs
        self.model = None
        self.core_hash = self.snapshot = self.full_hash = None

    def build(self) -> None:
        settings, spec = self.job.settings, self.job.spec
        layers = augment.keras_layers(settings.seed) if self.job.cell.augmentation == "keras_layers" else ()
        steps = -(-len(spec.train_files) // settings.batch_size)
        model, self.core_hash = build_model(settings.model, spec.image_size, spec.num_classes, settings.seed,
                                            layers, decay_steps=steps * self.accuracy_epochs)
        model.optimizer.build(model.trainable_variables)
        self.snapshot = ([v.numpy() for v in model.variables], [v.numpy() for v in model.optimizer.variables])
        self.model, self.full_hash = model, weights_sha256(model)

    def restored(self):
        """The model at its initial state (built on first use), and the hash of its initial weights."""
        if self.model is None:
            self.build()
            return self.model, self.core_hash
        weights, optimizer_state = self.snapshot
        for variable, value in zip(self.model.variables, weights, strict=True):
            variable.assign(value)
        for variable, value in zip(self.model.optimizer.variables, optimizer_state, strict=True):
            variable.assign(value)
        if weights_sha256(self.model) != self.full_hash:
            raise RuntimeError("restoring the model's initial weights failed")
        return self.model, self.core_hash


class AccuracyFits:
    """The cell's accuracy fits, validated on the validation files decoded as its pipeline decodes.

    The first fit is also the untimed warm-up before the first timed fit; the band cell
    (`band_seeds` > 1) fits again with its pipeline shuffled by each further seed.
    """

    def __init__(self, job: Job, pipeline: PipelineFactory, initial: InitialModel):
        import numpy as np

        self.job, self.pipeline, self.initial = job, pipeline, initial
        self.labels = np.asarray(job.spec.val_labels, np.int32)
        self.resize = "bilinear"  # the reference's; see `validate_like`
        self.val = (decode_all(job.spec.val_files, job.spec.image_size), self.labels)
        self.fits: list[AccuracyFit] = []  # the accuracy fit, then the band's further seeds
        self.warmup: dict | None = None

    @property
    def epochs(self) -> int:
        return max(self.job.settings.accuracy_epochs, 2)

    def validate_like(self, equivalence: dict) -> None:
        """Validate this cell's model on validation files resized as its pipeline resizes.

        Shrinking a photograph, PIL's bilinear filter antialiases and TensorFlow's reference
        does not; both are accepted as bilinear (`bench.data.equivalence`), but a model trained
        on one and validated on the other loses accuracy for that alone (0.47 against 0.88-0.91
        on the embedded photos at 40 px, docs/data.md "The embedded dataset"): a skew of the harness,
        not of the pipeline. So the accuracy fit is validated as its user would validate it.
        """
        resize = Equivalence.from_dict(equivalence).validation_resize
        if resize != self.resize:
            spec = self.job.spec
            self.val = (decode_all(spec.val_files, spec.image_size, method=resize), self.labels)
            self.resize = resize

    def warm_up(self) -> None:
        """The accuracy fits, which are also the untimed warm-up before the first timed fit.

        `epochs` epochs (at least 2) on this cell's pipeline, from the model's initial weights,
        validated after every epoch. As a warm-up they take the one-time costs that land later
        in a process's first fit: compiling the step for the last, smaller batch at the end of
        epoch 1 and, under JAX with tf.data input, a wait of several seconds with idle CPU at
        the start of epoch 2 (measured; it did not recur in later fits). Trials then restore
        the initial weights. A failure is recorded, not raised: the timed mode that follows
        reports its own.
        """
        started = time.perf_counter()
        self.fits = []
        try:
            for offset in range(self.job.settings.band_seeds):
                self.fits.append(self.fit(offset))
            self.warmup = {"fit_s": time.perf_counter() - started, "error": None,
                           "epoch_s": self.fits[0].epoch_s}
        except Exception as exc:  # the timed run reports it in full
            self.warmup = {"fit_s": time.perf_counter() - started, "error": one_line(exc), "epoch_s": None}

    def fit(self, offset: int) -> AccuracyFit:
        """One fit of `epochs` from the identical initial weights, on the pipeline built with seed
        `seed + offset` (its shuffle order): validation accuracy and loss after each epoch.

        Every cell starts from the same weights, so what can differ between two correct
        pipelines is the order of the data: the band's fits vary that, and only that.
        """
        fit_input, _ = self.pipeline(offset)
        model = self.initial.restored()[0]
        started = time.perf_counter()
        recorder = modes.fit_and_record(model, fit_input, self.epochs, validation=self.val)
        last = recorder.epochs[-1] if recorder.epochs else None
        return AccuracyFit(seed=self.job.settings.seed + offset, epochs=self.epochs,
                           fit_s=time.perf_counter() - started,
                           epoch_s=last.train_s if last else None,
                           images_per_epoch=last.images if last else None,
                           val_accuracy=tuple(e.val_accuracy for e in recorder.epochs),
                           val_loss=tuple(e.val_loss for e in recorder.epochs))


def check_data(job: Job, augments_itself: bool, pipeline: PipelineFactory) -> dict:
    """What this cell's pipeline delivers against the reference decode (untimed, after set-up).

    Reads one epoch (at most `bench.data.equivalence.MAX_IMAGES` images) from a fresh
    build of the pipeline; see `bench.data.equivalence`. A pipeline that cannot be
    read here is recorded as not checked, with its error: the timed modes report it too.
    """
    batch_size = job.settings.batch_size
    try:
        fit_input, _ = pipeline(0)
        augmented = augments_itself or job.cell.augmentation in IN_PIPELINE
        batches = (modes.delivered_by_fit(fit_input) if is_pydataset(fit_input.x)
                   else iterate_batches(fit_input, batch_size))
        return check_delivery(batches, job.spec, augmented, batch_size=batch_size).to_dict()
    except Exception as exc:  # noqa: BLE001  (any failure of the pipeline is the record's reason)
        return Equivalence.not_checked(one_line(exc)).to_dict()


def calibrate(chosen: tuple[str, ...], settings: modes.ModeSettings, epochs: int, model: Callable,
              model_batch: tuple, pipeline: PipelineFactory) -> modes.Calibration:
    """Fix each mode's repeats so that its timed sample lasts at least `min_sample_s`.

    Model-only on its resident batch (`model`: the model at its initial state), training fits,
    pipeline reads: each a real sample, repeated longer until one lasts long enough
    (`bench.run.modes.calibrate`). The runner asks for this one cell at a time, on an otherwise
    idle machine. A mode whose calibration fails keeps the defaults and reports its error in
    its trials.
    """
    found, errors = {}, {}
    started = time.perf_counter()

    def attempt(mode: str, names: tuple[str, ...], measure) -> None:
        try:
            found.update(zip(names, measure(), strict=True))
        except Exception as exc:  # recorded: this mode keeps the defaults, the others go on
            traceback.print_exc()
            errors[mode] = one_line(exc)

    if "model_only" in chosen:
        attempt("model_only", ("model_only_steps", "model_only_step_s"),
                lambda: modes.calibrate_model_only(model(), model_batch, settings))
    if "train" in chosen:
        attempt("train", ("train_epochs", "train_epoch_s"),
                lambda: modes.calibrate_train(model, lambda: pipeline(0)[0], settings, epochs))
    if "pipeline" in chosen or "simulated" in chosen:
        attempt("pipeline", ("pipeline_epochs", "simulated_epochs", "pipeline_epoch_s"),
                lambda: modes.calibrate_epochs(lambda: pipeline(0)[0], settings))
    return modes.Calibration(min_sample_s=settings.min_sample_s, errors=errors,
                             calibration_s=time.perf_counter() - started, **found)
