"""Run configuration: profiles (quick, default, full) and the cells a run measures.

A cell is one variant x precision x augmentation; each is measured in a child
process of its own (see `bench.runner`). Everything here is a frozen dataclass
and is validated before anything is measured.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, replace

from bench.data import EmbeddedDataset
from bench.errors import PipebenchError, unknown_choice
from bench.models import PRECISIONS
from bench.modes import MODES
from pipelines.base import AUGMENTATIONS, REGISTRY, expand_names, get_variant


@dataclass(frozen=True)
class Cell:
    """One variant x precision x augmentation, with options of its own (e.g. `workers=2`)."""

    variant: str
    precision: str = "float32"
    augmentation: str = "none"
    options: tuple[str, ...] = ()  # NAME=VALUE, applied over the run's --opt values
    backend: str = "tensorflow"  # the Keras backend of the cell's process

    @property
    def key(self) -> str:
        backend = [] if self.backend == "tensorflow" else [f"backend={self.backend}"]
        return "|".join([self.variant, self.precision, self.augmentation, *self.options, *backend])

    @property
    def name(self) -> str:
        """The variant with its own options and (when not TensorFlow) its backend."""
        backend = [] if self.backend == "tensorflow" else [f"[{self.backend}]"]
        return " ".join([self.variant, *self.options, *backend])

    @property
    def label(self) -> str:
        extras = [v for v in (self.precision, self.augmentation) if v not in ("float32", "none")]
        return " + ".join([self.name, *extras])

    def to_record(self) -> dict:
        record = {"variant": self.variant, "precision": self.precision, "augmentation": self.augmentation,
                  "backend": self.backend}
        return {**record, "options": list(self.options)} if self.options else record

    @classmethod
    def of(cls, record: dict) -> Cell:
        """The cell a stored result (a dict with variant, precision, augmentation) belongs to."""
        return cls(record["variant"], record["precision"], record["augmentation"],
                   tuple(record.get("options", ())), record.get("backend", "tensorflow"))


@dataclass(frozen=True)
class Profile:
    """Defaults for a run's size; `extra_cells` add the precision and augmentation rows."""

    name: str
    num_train: int
    num_val: int
    image_size: int
    num_classes: int
    epochs: int
    batch_size: int
    trials: int
    timeout_s: float
    extra_cells: tuple[Cell, ...] = ()
    variants: tuple[str, ...] | None = None  # None: every registered variant
    min_sample_s: float = 1.0  # every timed sample lasts at least this long
    service_workers: tuple[int, ...] | None = None  # tf_data_service cells; None: 1, 2, 4, ... cores


AXIS_ROWS = (
    Cell("tf_data_tuned", "mixed_bfloat16", "none"),
    Cell("tf_data_tuned", "float32", "tf_image"),
    Cell("tf_data_tuned", "float32", "keras_layers"),
    Cell("tf_data_tuned", "float32", "numpy_pyfunc"),
)

ONE_PER_FAMILY = (
    "in_memory_tensor_slices", "generator", "sequence", "image_data_generator",
    "image_dataset_from_directory", "tf_data_tuned", "tfrecord",
)

DEFAULT_VARIANTS = (*ONE_PER_FAMILY, "tf_data_service")  # one cell per family
SERVICE_VARIANT = "tf_data_service"
BACKENDS = ("tensorflow", "jax")  # Keras backends; each cell's process imports Keras with its own

# The default profile's rounds: 9 is the fewest with which the exact paired test can call a
# difference significant among its 7 comparisons against the baseline after Holm's correction
# (bench.stats.min_rounds_for), and gives a 96% interval of each median (2nd to 8th of 9).
PROFILES = {
    "quick": Profile("quick", 240, 80, 32, 4, 2, 32, 3, 300.0, AXIS_ROWS[:2], ONE_PER_FAMILY,
                     min_sample_s=0.25),
    # 0.5 s samples: on the 2-core VM the spread of samples was the same from 0.1 to 2 s
    # (tools/sample_length.py, README), and 1 s samples made this profile take 15 minutes
    "default": Profile("default", 640, 240, 40, 6, 3, 32, 9, 600.0, (), DEFAULT_VARIANTS,
                       min_sample_s=0.5, service_workers=(1,)),
    "full": Profile("full", 4000, 1000, 96, 10, 5, 64, 9, 3600.0, AXIS_ROWS, None),
}
DEFAULT_TARGET_RATE = 1000.0  # images/s the simulated accelerator consumes, unless told


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides what a run measures; stored verbatim in results.json."""

    profile: str
    embedded: EmbeddedDataset
    data_dir: str | None = None
    val_dir: str | None = None
    val_split: float = 0.2
    model: str = "small_cnn"
    epochs: int = 3
    batch_size: int = 32
    trials: int = 1
    seed: int = 0
    cells: tuple[Cell, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    options: tuple[str, ...] = ()
    timeout_s: float = 600.0
    modes: tuple[str, ...] = MODES
    min_sample_s: float = 1.0
    step_s: float = 0.032
    telemetry_hz: float = 5.0
    target_accuracy: float | None = None  # None: 1.5 times chance
    overhead_check: bool = False
    on_bad_file: str = "stop"  # or "skip": leave bad files out for every variant
    memory_budget_bytes: int | None = None  # None: the memory available when a cell starts
    results_dir: str = "results"
    label: str = ""
    baseline: str | None = None
    command: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> RunConfig:
        """Rebuild a configuration stored in results.json (for `--resume`)."""
        fields = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}  # older runs' extras
        fields["embedded"] = EmbeddedDataset(**raw["embedded"])
        fields["cells"] = tuple(Cell.of(c) for c in raw["cells"])
        fields["skipped"] = tuple(tuple(s) for s in raw.get("skipped", ()))
        for key in ("options", "modes"):
            fields[key] = tuple(raw.get(key, ()))
        return cls(**fields)


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise unknown_choice("profile", name, PROFILES) from None


def default_target_accuracy(num_classes: int) -> float:
    """1.5 times chance (capped at 0.9): reached by a model that learns, not by one that guesses."""
    return min(0.9, 1.5 / num_classes)


def step_seconds(batch_size: int, step_ms: float | None, target_rate: float | None) -> float:
    """The simulated step: `--step-ms`, else the time `--target-rate` images/s gives a batch."""
    if step_ms is not None and target_rate is not None:
        raise PipebenchError("give --step-ms or --target-rate, not both")
    if step_ms is not None:
        return step_ms / 1000.0
    return batch_size / (target_rate or DEFAULT_TARGET_RATE)


def check_backends(backends: list[str] | None) -> list[str]:
    for backend in backends or ():
        if backend not in BACKENDS:
            raise unknown_choice("backend", backend, BACKENDS)
    return list(dict.fromkeys(backends or ["tensorflow"]))


def check_modes(modes: list[str] | None) -> tuple[str, ...]:
    for mode in modes or ():
        if mode not in MODES:
            raise unknown_choice("mode", mode, MODES)
    return tuple(m for m in MODES if m in modes) if modes else MODES


def check_range(flag: str, value: float, low: float, high: float | None = None) -> None:
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"{low}..{high}"
        raise PipebenchError(f"{flag} {value} is out of range; valid: {bound}")


def service_worker_counts(cores: int) -> list[int]:
    """The default scaling axis of the local tf.data service: 1, 2, 4, ... up to the cores."""
    counts = [1]
    while counts[-1] * 2 <= max(cores, 2):
        counts.append(counts[-1] * 2)
    return counts


def service_cells(cell: Cell, workers: list[int] | None, service: str | None) -> list[Cell]:
    """A tf_data_service cell per local worker count, or one for the user's dispatcher."""
    import os

    if service is not None:
        if workers:
            raise PipebenchError("give --service (your dispatcher) or --service-workers (a local cluster), "
                                 "not both")
        if not service.startswith("grpc://") or ":" not in service[len("grpc://"):]:
            raise PipebenchError(f"--service {service!r} is not an address; valid: grpc://HOST:PORT")
        return [replace(cell, options=(f"service={service}",))]
    counts = workers or service_worker_counts(os.cpu_count() or 1)
    return [replace(cell, options=(f"workers={k}",)) for k in counts]


def build_cells(
    profile: Profile,
    variants: list[str] | None,
    precisions: list[str] | None,
    augmentations: list[str] | None,
    custom: str | None,
    service_workers: list[int] | None = None,
    service: str | None = None,
    backends: list[str] | None = None,
) -> tuple[tuple[Cell, ...], tuple[tuple[str, str], ...]]:
    """The cells to run and the (cell, reason) pairs left out as unsupported.

    With no axis chosen, a run covers the profile's variants (all registered ones
    unless the profile names fewer) in float32 without augmentation, plus the
    profile's precision and augmentation rows; otherwise the cross product of the
    chosen axes. `--pipeline` adds the user's pipeline to the variants;
    `tf_data_service` becomes one cell per local worker count (or one for `--service`).
    """
    for value in precisions or ():
        if value not in PRECISIONS:
            raise unknown_choice("precision", value, PRECISIONS)
    for value in augmentations or ():
        if value not in AUGMENTATIONS:
            raise unknown_choice("augmentation", value, AUGMENTATIONS)
    names = expand_names(variants) if variants else list(profile.variants or REGISTRY)
    if custom:
        from pipelines.custom import check_target

        check_target(custom)
        names.append(f"custom:{custom}")
    product = [Cell(v, p, a) for v, p, a in itertools.product(
        names, precisions or ["float32"], augmentations or ["none"])]
    if variants is None and precisions is None and augmentations is None:
        product += [c for c in profile.extra_cells if c not in product]
    product = [expanded for cell in product for expanded in (
        service_cells(cell, service_workers, service) if cell.variant == SERVICE_VARIANT else [cell])]
    product = [replace(cell, backend=b) for b in check_backends(backends) for cell in product]
    cells, skipped = [], []
    for cell in product:
        variant = get_variant(cell.variant)
        if cell.augmentation in variant.augmentations:
            cells.append(cell)
        else:
            allowed = ", ".join(sorted(variant.augmentations))
            skipped.append((cell.key, f"{cell.variant} supports augmentations: {allowed}"))
    if not cells:
        raise PipebenchError("no runnable cell: every chosen variant x augmentation is unsupported")
    return tuple(cells), tuple(skipped)
