"""Typed records of what was measured: a timed sample, a mode's run, a cell.

They are frozen: a measurement, once made, is never changed; statistics are
derived from them (`bench.results.analysis.analyse`). Each reads and writes the JSON of
`results.json` (schema 4): `from_dict` accepts what the worker wrote and what
older schemas become after their upgrade, `to_dict` writes it back unchanged,
so a document survives load -> save byte for byte in meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from bench.config import Cell
from bench.data.equivalence import Equivalence


@dataclass(frozen=True)
class Sample:
    """One timed sample: images delivered in `seconds` of a continuous window.

    `loops` is how many epochs (steps, for model-only) the sample repeated, fixed per
    cell by calibration; `started_unix`, `loadavg_1m` and `steal_percent` say when it
    ran and what the rest of the machine was doing. The CPU seconds over the same window
    (`bench.run.cpu_clock`): the cell's process tree, the tf.data service's servers apart,
    the Python main thread and the busiest thread; None in runs from before they were kept.
    """

    images: int | None = None
    seconds: float | None = None
    loops: int | None = None
    started_unix: float | None = None
    loadavg_1m: float | None = None
    steal_percent: float | None = None
    cpu_s: float | None = None
    service_cpu_s: float | None = None
    main_thread_cpu_s: float | None = None
    busiest_thread_cpu_s: float | None = None
    cpu_read_s: float | None = None

    @property
    def images_per_sec(self) -> float | None:
        if not self.images or not self.seconds or self.seconds <= 0:
            return None
        return self.images / self.seconds

    def per_image_us(self, seconds: float | None) -> float | None:
        return 1e6 * seconds / self.images if seconds is not None and self.images else None

    @property
    def cpu_us_per_image(self) -> float | None:
        """CPU µs per delivered image, the cell's process tree (servers not included)."""
        return self.per_image_us(self.cpu_s)

    @property
    def cores_used(self) -> float | None:
        """Mean cores busy over the window: CPU seconds / wall seconds."""
        return self.cpu_s / self.seconds if self.cpu_s is not None and self.seconds else None


SAMPLE_KEYS = tuple(f.name for f in fields(Sample))


@dataclass(frozen=True)
class Storage:
    """What a run fetched from storage (`bench.run.page_cache`): the page cache's state for it
    (warm, cold, or not applicable), bytes fetched in its timed epochs (cold) and over the
    whole run (`run_`, warm-up and set-up included), a cold epoch's least share of its
    files' bytes, and why a cold run may not have read cold."""

    page_cache: str | None = None
    storage_read_bytes: int | None = None
    run_storage_read_bytes: int | None = None
    evicted_bytes: int | None = None
    cold_read_share_min: float | None = None
    page_cache_flag: str | None = None


STORAGE_KEYS = tuple(f.name for f in fields(Storage))


@dataclass(frozen=True)
class ModeRun:
    """One mode of one round of a cell: its sample, its raw epochs and what it measured beside."""

    mode: str
    round: int
    status: str
    error: str | None = None
    images_per_sec: float | None = None
    sample: Sample = field(default_factory=Sample)
    first_batch_s: float | None = None
    build_s: float | None = None
    au: float | None = None  # simulated mode: nominal busy time / the sample's time
    note: str | None = None
    epochs: tuple[dict, ...] = ()
    telemetry: dict | None = None  # the summary of the telemetry sampled during this run
    extra: dict = field(default_factory=dict)  # everything else the worker recorded, kept as is

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.images_per_sec is not None

    @property
    def storage(self) -> Storage:
        """What the run fetched from storage (kept among its extras in results.json)."""
        return Storage(**{k: self.extra.get(k) for k in STORAGE_KEYS})

    @property
    def val_accuracy(self) -> float | None:
        """Validation accuracy at the run's accuracy epoch (the last validated one)."""
        scored = [e["val_accuracy"] for e in self.epochs if e.get("val_accuracy") is not None]
        return scored[-1] if scored else None

    @classmethod
    def from_dict(cls, raw: dict) -> ModeRun:
        named = {f.name for f in fields(cls)} - {"sample", "extra", "epochs", "round"}
        return cls(
            round=int(raw.get("round", raw.get("trial", 0))),
            sample=Sample(**{k: raw.get(k) for k in SAMPLE_KEYS}),
            epochs=tuple(raw.get("epochs") or ()),
            **{k: raw[k] for k in named if raw.get(k) is not None},
            extra={k: v for k, v in raw.items() if k not in named | set(SAMPLE_KEYS) | {"round", "epochs"}},
        )

    def to_dict(self) -> dict:
        sample = {k: getattr(self.sample, k) for k in SAMPLE_KEYS}
        return {"mode": self.mode, "round": self.round, "trial": self.extra.get("trial", self.round),
                "status": self.status, "error": self.error, "images_per_sec": self.images_per_sec, **sample,
                "first_batch_s": self.first_batch_s, "build_s": self.build_s, "au": self.au,
                "note": self.note, "epochs": list(self.epochs), "telemetry": self.telemetry,
                **{k: v for k, v in self.extra.items() if k != "trial"}}


@dataclass(frozen=True)
class AccuracyFit:
    """One untimed accuracy fit from the cell's shared initial weights: validation accuracy and
    loss after every epoch, on the pipeline built with `seed` (its shuffle order)."""

    seed: int | None = None
    epochs: int | None = None
    fit_s: float | None = None
    epoch_s: float | None = None
    images_per_epoch: int | None = None
    val_accuracy: tuple[float | None, ...] = ()
    val_loss: tuple[float | None, ...] = ()  # empty in runs before it was kept

    @property
    def validated(self) -> bool:
        return any(a is not None for a in self.val_accuracy)

    @property
    def final_accuracy(self) -> float | None:
        """Validation accuracy at the fit's end."""
        return last_scored(self.val_accuracy)

    @property
    def final_loss(self) -> float | None:
        """Validation loss (cross-entropy) at the fit's end."""
        return last_scored(self.val_loss)

    def epochs_to(self, target: float | None) -> int | None:
        """The first epoch whose validation accuracy reaches `target`."""
        if target is None:
            return None
        return next((i + 1 for i, a in enumerate(self.val_accuracy) if a is not None and a >= target), None)

    def to_dict(self) -> dict:
        return {**{f.name: getattr(self, f.name) for f in fields(self)},
                "val_accuracy": list(self.val_accuracy), "val_loss": list(self.val_loss)}

    @classmethod
    def from_dict(cls, raw: dict) -> AccuracyFit:
        known = {f.name for f in fields(cls)} - {"val_accuracy", "val_loss"}
        return cls(**{k: raw.get(k) for k in known}, val_accuracy=tuple(raw.get("val_accuracy") or ()),
                   val_loss=tuple(raw.get("val_loss") or ()))


def last_scored(values) -> float | None:
    scored = [v for v in values if v is not None]
    return scored[-1] if scored else None


@dataclass(frozen=True)
class CellResult:
    """Everything measured for one cell: its identity, status, runs and set-up records."""

    cell: Cell
    status: str
    error: str | None = None
    note: str | None = None
    runs: tuple[ModeRun, ...] = ()
    equivalence: Equivalence | None = None  # what the pipeline delivered against the reference
    extra: dict[str, Any] = field(default_factory=dict)  # calibration, loops, telemetry, service, ...

    @classmethod
    def from_dict(cls, raw: dict) -> CellResult:
        identity = set(Cell("x").to_record()) | {"options", "cores"}
        known = identity | {"status", "error", "note", "runs", "equivalence"}
        checked = raw.get("equivalence")
        return cls(cell=Cell.of(raw), status=raw.get("status", "failed"), error=raw.get("error"),
                   note=raw.get("note"), runs=tuple(ModeRun.from_dict(r) for r in raw.get("runs") or ()),
                   equivalence=Equivalence.from_dict(checked) if checked else None,
                   extra={k: v for k, v in raw.items() if k not in known})

    def to_dict(self) -> dict:
        return {**self.cell.to_record(), "status": self.status, "error": self.error, "note": self.note,
                "runs": [r.to_dict() for r in self.runs],
                "equivalence": self.equivalence.to_dict() if self.equivalence else None, **self.extra}

    @property
    def data_differs(self) -> bool:
        """The equivalence check found that this cell changes the data (never recommended)."""
        return self.equivalence is not None and self.equivalence.differs

    @property
    def accuracy_fits(self) -> list[AccuracyFit]:
        """The untimed accuracy fits that validated: the cell's own, then the band's further seeds."""
        fits = (AccuracyFit.from_dict(f) for f in self.extra.get("accuracy_fits") or ())
        return [f for f in fits if f.validated]

    def runs_of(self, mode: str) -> list[ModeRun]:
        """The successful runs of `mode`, in round order."""
        return sorted((r for r in self.runs if r.mode == mode and r.ok), key=lambda r: r.round)

    def by_round(self, mode: str) -> dict[int, float]:
        """Round -> images/s of `mode` (successful runs only)."""
        return {r.round: r.images_per_sec for r in self.runs_of(mode)}

    def cpu_by_round(self, mode: str) -> dict[int, float]:
        """Round -> CPU µs per image of `mode` (successful runs that kept their CPU time)."""
        return {r.round: r.sample.cpu_us_per_image for r in self.runs_of(mode)
                if r.sample.cpu_us_per_image is not None}

    def pipeline_cpu_by_round(self) -> dict[int, float]:
        """Round -> the pipeline's own CPU µs per image in training: the training sample's minus the
        model-only sample's of the same round (the identical model on a resident batch)."""
        model = self.cpu_by_round("model_only")
        return {r: cost - model[r] for r, cost in self.cpu_by_round("train").items() if r in model}
