"""Run configuration: profiles (quick, default, full) and the cells a run measures.

A cell is one variant x precision x augmentation; each is measured in a child
process of its own (see `bench.runner`). Everything here is a frozen dataclass
and is validated before anything is measured.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

from bench.data import EmbeddedDataset
from bench.errors import PipebenchError, unknown_choice
from bench.models import PRECISIONS
from pipelines.base import AUGMENTATIONS, REGISTRY, expand_names, get_variant


@dataclass(frozen=True)
class Cell:
    variant: str
    precision: str = "float32"
    augmentation: str = "none"

    @property
    def key(self) -> str:
        return f"{self.variant}|{self.precision}|{self.augmentation}"

    @property
    def label(self) -> str:
        extras = [v for v in (self.precision, self.augmentation) if v not in ("float32", "none")]
        return " + ".join([self.variant, *extras])


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

PROFILES = {
    "quick": Profile("quick", 240, 80, 32, 4, 2, 32, 1, 300.0, AXIS_ROWS[:2], ONE_PER_FAMILY),
    "default": Profile("default", 1200, 400, 64, 6, 3, 32, 1, 600.0, AXIS_ROWS),
    "full": Profile("full", 4000, 1000, 96, 10, 5, 64, 3, 1800.0, AXIS_ROWS),
}


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
    results_dir: str = "results"
    label: str = ""
    command: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise unknown_choice("profile", name, PROFILES) from None


def check_range(flag: str, value: float, low: float, high: float | None = None) -> None:
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"{low}..{high}"
        raise PipebenchError(f"{flag} {value} is out of range; valid: {bound}")


def build_cells(
    profile: Profile,
    variants: list[str] | None,
    precisions: list[str] | None,
    augmentations: list[str] | None,
    custom: str | None,
) -> tuple[tuple[Cell, ...], tuple[tuple[str, str], ...]]:
    """The cells to run and the (cell, reason) pairs left out as unsupported.

    With no axis chosen, a run covers the profile's variants (all registered ones
    unless the profile names fewer) in float32 without augmentation, plus the
    profile's precision and augmentation rows; otherwise the cross product of the
    chosen axes. `--pipeline` adds the user's pipeline to the variants.
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
