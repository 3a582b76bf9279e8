"""Run configuration: presets (quick, default, full) and the cells a run measures.

A cell is one variant x precision x augmentation; each is measured in a child
process of its own (see `bench.run.runner`). Everything here is a frozen dataclass
and is validated before anything is measured.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, replace

from bench.data.dataset import EmbeddedDataset
from bench.data.photos import PHOTO_LONG_SIDE
from bench.errors import PipebenchError, unknown_choice
from bench.machine import nvidia_gpu_present
from pipelines.base import (
    AUGMENTATIONS,
    REGISTRY,
    expand_names,
    family_defaults,
    get_variant,
    reference_variant,
)


@dataclass(frozen=True)
class Cell:
    """One variant x precision x augmentation, with options of its own (e.g. `workers=2`).

    `cores`: the cell's process and its children run on this many of the machine's cores
    (CPU affinity, `--cores`); None: on every core the run may use.
    """

    variant: str
    precision: str = "float32"
    augmentation: str = "none"
    options: tuple[str, ...] = ()  # NAME=VALUE, applied over the run's --opt values
    backend: str = "tensorflow"  # the Keras backend of the cell's process
    cores: int | None = None

    @property
    def key(self) -> str:
        backend = [] if self.backend == "tensorflow" else [f"backend={self.backend}"]
        cores = [] if self.cores is None else [f"cores={self.cores}"]
        return "|".join([self.variant, self.precision, self.augmentation, *self.options, *backend, *cores])

    @property
    def name(self) -> str:
        """The variant with its own options, (when not TensorFlow) its backend and its cores."""
        backend = [] if self.backend == "tensorflow" else [f"[{self.backend}]"]
        cores = [] if self.cores is None else [f"@{self.cores}c"]
        return " ".join([self.variant, *self.options, *backend, *cores])

    @property
    def settings_key(self) -> str:
        """The cell without its cores: the cells that differ only in `--cores` share it."""
        return replace(self, cores=None).key

    @property
    def label(self) -> str:
        extras = [v for v in (self.precision, self.augmentation) if v not in ("float32", "none")]
        return " + ".join([self.name, *extras])

    def to_record(self) -> dict:
        record = {"variant": self.variant, "precision": self.precision, "augmentation": self.augmentation,
                  "backend": self.backend}
        if self.cores is not None:
            record["cores"] = self.cores
        return {**record, "options": list(self.options)} if self.options else record

    @classmethod
    def of(cls, record: dict) -> Cell:
        """The cell a stored result (a dict with variant, precision, augmentation) belongs to."""
        return cls(record["variant"], record["precision"], record["augmentation"],
                   tuple(record.get("options", ())), record.get("backend", "tensorflow"), record.get("cores"))


@dataclass(frozen=True)
class Preset:
    """A run's size (`--preset`): dataset, epochs, rounds, sample length and which cells it covers.

    Its variants are found through what they declare (`pipelines.base.Variant`): one per
    family, or every registered one, with or without those that start a local cluster;
    `axis_rows` adds the precision and augmentation rows on the reference variant.
    """

    name: str
    num_train: int
    num_val: int
    image_size: int
    num_classes: int
    epochs: int
    batch_size: int
    rounds: int
    timeout_s: float
    axis_rows: int = 0  # how many of AXIS_ROWS (precision, then augmentation rows) to add
    one_per_family: bool = True  # False: every registered variant
    with_clusters: bool = True  # include variants that start a local cluster (tf.data service)
    min_sample_s: float = 1.0  # every timed sample lasts at least this long
    service_workers: tuple[int, ...] | None = None  # local-cluster cells; None: 1, 2, 4, ... cores
    accuracy_epochs: int = 16  # each cell's untimed accuracy fit (also its warm-up)
    accuracy_seeds: int = 5  # fits of the reference variant, one per seed: the accuracy band
    long_side: tuple[int, int] = PHOTO_LONG_SIDE  # embedded files' long side, px (photo-sized by default)

    def dataset(self, seed: int = 0, **overrides) -> EmbeddedDataset:
        """The preset's embedded dataset, with any of its fields overridden (None: keep the preset's)."""
        fields = {"num_train": self.num_train, "num_val": self.num_val, "image_size": self.image_size,
                  "num_classes": self.num_classes, "long_side": self.long_side}
        fields.update({k: v for k, v in overrides.items() if v is not None})
        return EmbeddedDataset(seed=seed, **fields)

    @property
    def variants(self) -> list[str]:
        if self.one_per_family:
            return family_defaults(self.with_clusters)
        return [n for n in REGISTRY if self.with_clusters or not REGISTRY[n].local_cluster]

    @property
    def extra_cells(self) -> tuple[Cell, ...]:
        return axis_rows()[:self.axis_rows]


AXIS_ROWS = (("mixed", "none"), ("float32", "tf_image"), ("float32", "keras_layers"),
             ("float32", "numpy_pyfunc"))


def mixed_precision() -> str:
    """The mixed-precision row's policy: float16 where a GPU is present, bfloat16 on a CPU."""
    return "mixed_float16" if nvidia_gpu_present() else "mixed_bfloat16"


def axis_rows() -> tuple[Cell, ...]:
    """The precision and augmentation rows, measured on the reference (tuned) variant."""
    mixed = mixed_precision()
    return tuple(Cell(reference_variant(), mixed if precision == "mixed" else precision, augmentation)
                 for precision, augmentation in AXIS_ROWS)


def band_cell(cells, augmentation: str = "none") -> Cell | None:
    """The cell fitted with several seeds for the accuracy band of `augmentation`: the reference
    variant, in float32, with that augmentation and its default options (the first such, if
    several backends). An augmented cell is judged against its augmentation's band, where the
    run has one, since augmentation changes what a correct pipeline learns."""
    reference = reference_variant()
    return next((c for c in cells if c.variant == reference and c.precision == "float32"
                 and c.augmentation == augmentation and not c.options), None)


def band_cells(cells) -> tuple[Cell, ...]:
    """The band cells of every augmentation among `cells` (`band_cell`)."""
    found = (band_cell(cells, a) for a in dict.fromkeys(c.augmentation for c in cells))
    return tuple(c for c in found if c is not None)


BACKENDS = ("tensorflow", "jax")  # Keras backends; each cell's process imports Keras with its own
MODES = ("pipeline", "train", "model_only", "simulated")  # what a round measures (bench.run.modes)
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # Keras dtype policies (bench.run.models)

# The default preset's rounds: 9 is the fewest with which the exact paired test can call a
# difference significant among its 7 comparisons against the baseline after Holm's correction
# (bench.stats.min_rounds_for), and gives a 96% interval of each median (2nd to 8th of 9).
PRESETS = {
    "quick": Preset("quick", 240, 80, 32, 4, 2, 32, 3, 300.0, axis_rows=2, with_clusters=False,
                    min_sample_s=0.25, accuracy_epochs=8, accuracy_seeds=3, long_side=(36, 56)),
    # photo-sized files (bench.data.photos) resized to 32 px: the decode of the whole photograph
    # is the cost, and a small model input keeps the CPU's training from masking it. 256 + 128
    # images and 0.3 s samples (the spread of samples was the same from 0.1 to 2 s,
    # tools/sample_length.py) are what 9 cells x 9 rounds can afford (docs/measurements.md)
    "default": Preset("default", 256, 128, 32, 6, 2, 32, 9, 600.0, axis_rows=1, min_sample_s=0.3,
                      service_workers=(1,)),
    "full": Preset("full", 4000, 1000, 96, 10, 5, 64, 9, 3600.0, axis_rows=len(AXIS_ROWS),
                   one_per_family=False),
}
DEFAULT_TARGET_RATE = 1000.0  # images/s the simulated accelerator consumes, unless told


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides what a run measures; stored verbatim in results.json."""

    preset: str
    embedded: EmbeddedDataset
    data_dir: str | None = None
    val_dir: str | None = None
    val_split: float = 0.2
    model: str = "small_cnn"
    epochs: int = 3
    batch_size: int = 32
    rounds: int = 1
    seed: int = 0
    cells: tuple[Cell, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    options: tuple[str, ...] = ()
    timeout_s: float = 600.0
    modes: tuple[str, ...] = MODES
    min_sample_s: float = 1.0
    step_s: float = 0.032
    telemetry_hz: float = 5.0
    target_accuracy: float | None = None  # None: the band's lower edge, else 1.5 times chance
    accuracy_epochs: int = 16
    accuracy_seeds: int = 5
    overhead_check: bool = False
    on_bad_file: str = "stop"  # or "skip": leave bad files out for every variant
    subset: int | None = None  # benchmark on this many training files (seeded, stratified); None: all
    page_cache: str = "warm"  # "cold": every timed epoch of a file-reading mode reads from storage
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
        raw = {"preset": raw.get("profile"), "rounds": raw.get("trials"), **raw}  # their earlier names
        fields = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}  # older runs' extras
        fields["embedded"] = EmbeddedDataset.of(raw["embedded"])
        fields["cells"] = tuple(Cell.of(c) for c in raw["cells"])
        fields["skipped"] = tuple(tuple(s) for s in raw.get("skipped", ()))
        for key in ("options", "modes"):
            fields[key] = tuple(raw.get(key, ()))
        return cls(**fields)


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise unknown_choice("preset", name, PRESETS) from None


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


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), which `--cores` chooses from."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_cores(cores: list[int] | None) -> list[int | None]:
    """`--cores` as the cells' core counts ([None]: unrestricted), each within the usable cores."""
    if not cores:
        return [None]
    usable = usable_cores()
    for count in cores:
        if not 1 <= count <= usable:
            raise PipebenchError(f"--cores {count} is out of range; valid: 1..{usable} (the cores this "
                                 "process may use)")
    return list(dict.fromkeys(cores))


def service_worker_counts(cores: int) -> list[int]:
    """The default scaling axis of the local tf.data service: 1, 2, 4, ... up to the cores."""
    counts = [1]
    while counts[-1] * 2 <= max(cores, 2):
        counts.append(counts[-1] * 2)
    return counts


def service_cells(cell: Cell, workers: list[int] | None, service: str | None) -> list[Cell]:
    """A cell per local worker count (tf_data_service), or one for the user's dispatcher."""
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
    preset: Preset,
    variants: list[str] | None,
    precisions: list[str] | None,
    augmentations: list[str] | None,
    custom: list[str] | None,
    service_workers: list[int] | None = None,
    service: str | None = None,
    backends: list[str] | None = None,
    cores: list[int] | None = None,
) -> tuple[tuple[Cell, ...], tuple[tuple[str, str], ...]]:
    """The cells to run and the (cell, reason) pairs left out as unsupported.

    With no axis chosen, a run covers the preset's variants in float32 without
    augmentation, plus the preset's precision and augmentation rows; otherwise the
    cross product of the chosen axes. `--pipeline` (repeatable) adds the user's
    pipelines to the variants; a variant that starts a local cluster (`tf_data_service`) becomes one
    cell per local worker count (or one for `--service`).
    """
    for value in precisions or ():
        if value not in PRECISIONS:
            raise unknown_choice("precision", value, PRECISIONS)
    for value in augmentations or ():
        if value not in AUGMENTATIONS:
            raise unknown_choice("augmentation", value, AUGMENTATIONS)
    names = expand_names(variants) if variants else preset.variants
    if custom:
        from pipelines.custom import check_target

        for target in dict.fromkeys(custom):
            check_target(target)
            names.append(f"custom:{target}")
    product = [Cell(v, p, a) for v, p, a in itertools.product(
        names, precisions or ["float32"], augmentations or ["none"])]
    if variants is None and precisions is None and augmentations is None:
        product += [c for c in preset.extra_cells if c not in product]
    product = [expanded for cell in product for expanded in (
        service_cells(cell, service_workers, service) if get_variant(cell.variant).local_cluster else [cell])]
    product = [replace(cell, backend=b) for b in check_backends(backends) for cell in product]
    product = [replace(cell, cores=k) for cell in product for k in check_cores(cores)]
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
