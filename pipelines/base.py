"""The variant interface and the registry.

A variant knows how to deliver batches of `(images, labels)` to `model.fit`,
and nothing about timing or reports. Every variant delivers the same contract:

* images: float32, shape (batch, height, width, 3), values in [0, 1];
* labels: int32 class indices into `DataSpec.class_names` (sorted folder names).

Variant modules import TensorFlow inside `build`, never at module level, so the
registry can be listed and validated in a process that has no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.errors import PipebenchError, unknown_choice
from pipelines.spec import DataSpec

AUGMENTATIONS = ("none", "tf_image", "keras_layers", "keras_layers_map", "numpy_pyfunc")
TF_DATA_AUGMENTATIONS = frozenset(AUGMENTATIONS)
MODEL_ONLY_AUGMENTATIONS = frozenset({"none", "keras_layers"})


@dataclass(frozen=True)
class Option:
    """A knob of a variant, set from the CLI as `--opt NAME=VALUE` or `--opt VARIANT.NAME=VALUE`."""

    name: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    parse: Callable[[str], Any] = str
    sweep: tuple[str, ...] | None = None  # values `pipebench sweep` tries; None: its table by option name

    def convert(self, raw: str) -> Any:
        if self.choices is not None and raw not in self.choices:
            raise unknown_choice(f"value for option {self.name}", raw, self.choices)
        try:
            return self.parse(raw)
        except ValueError as exc:
            raise PipebenchError(f"option {self.name}={raw!r} is invalid: {exc}") from None


def keyword_or_positive(raw: str, keyword: str, note: str = "") -> int | str:
    """`keyword` itself, or a positive integer (`note` says what 1 means, where it matters)."""
    if raw == keyword:
        return raw
    value = int(raw)
    if value < 1:
        raise ValueError(f"expected '{keyword}' or an integer >= 1{note}")
    return value


def parse_parallelism(raw: str) -> int | str:
    """'autotune' or a positive integer: the value of num_parallel_calls-like knobs."""
    return keyword_or_positive(raw, "autotune")


def parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def parse_prefetch(raw: str) -> int | str:
    """'0' (off), a positive integer depth, or 'autotune'."""
    return 0 if raw == "0" else parse_parallelism(raw)


PREFETCH = Option("prefetch", "autotune", "prefetch depth: 0 (off), an integer, or autotune",
                  parse=parse_prefetch)
DROP_REMAINDER = Option("drop_remainder", False, "drop the last partial batch, as the seeds' generators do "
                        "(len = floor)", parse=parse_bool)


@dataclass(frozen=True)
class PipelineRequest:
    """Everything a variant needs to build its training input."""

    spec: DataSpec
    batch_size: int
    seed: int
    augmentation: str
    options: Mapping[str, Any]
    cache_dir: Path


@dataclass
class FitInput:
    """What `model.fit` receives: `x` (and `y`), plus any fit arguments the input needs."""

    x: Any
    y: Any = None
    steps_per_epoch: int | None = None
    fit_kwargs: dict[str, Any] = field(default_factory=dict)


class Variant:
    """A way of delivering training batches. Subclasses set the class attributes and `build`."""

    name: str = ""
    family: str = ""
    description: str = ""
    options: tuple[Option, ...] = ()
    augmentations: frozenset[str] = MODEL_ONLY_AUGMENTATIONS
    needs_tensorflow: bool = True  # False: runs where TensorFlow is not installed (NumPy/PIL/Keras only)
    # What the harness needs to know about a variant is declared here, so that presets, the tuning
    # tools and the tests find variants by capability instead of keeping lists of names.
    family_default: bool = False  # the family's cell in a one-per-family preset (else: the first registered)
    reference: bool = False  # the tuned pipeline: axis rows, advice's reference, the A/A twin
    python_loader: bool = False  # batches are made by Python code that holds the GIL
    baseline_rank: int | None = None  # a usual starting point for reports' baseline (lowest rank first)
    overhead_check: bool = False  # measured by the telemetry-overhead check (with and without the sampler)
    local_cluster: bool = False  # needs a local cluster of worker processes: one cell per worker count
    replaced_by: tuple[str, str] | None = None  # (variant, why) that advice suggests using instead
    augments_itself: bool = False  # randomly transforms images whatever the augmentation axis says

    def build(self, request: PipelineRequest) -> FitInput:
        raise NotImplementedError

    def capabilities(self) -> list[str]:
        """The declared capabilities in words, for `pipebench list`."""
        flags = {"family_default": "its family's default", "reference": "the tuned reference",
                 "python_loader": "Python loader (holds the GIL)", "overhead_check": "in the overhead check",
                 "local_cluster": "starts a local cluster"}
        words = [text for flag, text in flags.items() if getattr(self, flag)]
        if self.baseline_rank is not None:
            words.append(f"baseline choice {self.baseline_rank}")
        if self.replaced_by:
            words.append(f"advice: use {self.replaced_by[0]}")
        return words

    def stages(self, request: PipelineRequest):
        """The pipeline as `(source, stages, drainer)` for the stage profiler, or None.

        See `pipelines.stages`; a variant that cannot be split into stages is
        not profiled stage by stage.
        """
        return None

    def timed_files(self, request: PipelineRequest) -> tuple[str, ...] | None:
        """The files every epoch after the first reads from storage (what `--page-cache cold`
        evicts), or None where those epochs read from memory: decoded up front, or cached
        after the first epoch. A disk cache's files are found by the harness."""
        return None if request.options.get("cache") == "memory" else request.spec.train_files

    def decode_threads(self, options: Mapping[str, Any], cores: int) -> int:
        """How many threads (or processes) share a steady-state epoch's per-image work on `cores`
        cores: the structure a cost model needs to scale a rate to other core counts. A Python
        loader's per-image work holds the GIL, so it runs as one; everything else is taken to
        spread over the cores (variants with a fixed parallelism say so)."""
        return 1 if self.python_loader else cores

    def decoded_copies(self, options: Mapping[str, Any]) -> int:
        """How many decoded (float32) copies of the training set this variant holds in memory.

        Zero for streaming variants; the runner refuses a cell whose copies would
        not fit in the memory available, instead of letting the OS kill it.
        """
        return 1 if options.get("cache") == "memory" else 0

    def resolve_options(self, overrides: Mapping[str, str]) -> dict[str, Any]:
        """Defaults with the overrides that name one of this variant's options applied."""
        values = {opt.name: opt.default for opt in self.options}
        by_name = {opt.name: opt for opt in self.options}
        for key, raw in overrides.items():
            if key in by_name:
                values[key] = by_name[key].convert(raw)
        return values


def parallel_calls_threads(options: Mapping[str, Any], cores: int) -> int:
    """Threads of a tf.data map with `parallel_calls` (an integer or autotune, which tf.data sizes
    from the cores) over `interleave` streams, on `cores` cores."""
    parallel = options.get("parallel_calls", "autotune")
    per_stream = cores if parallel == "autotune" else int(parallel)
    return max(1, min(cores, per_stream * int(options.get("interleave", 1) or 1)))


def module_available(name: str) -> bool:
    """Whether `name` can be imported, without importing it (a blocked module counts as absent)."""
    import importlib.util
    import sys

    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def tensorflow_available() -> bool:
    return module_available("tensorflow")


REGISTRY: dict[str, Variant] = {}
# Variants made on demand from a prefixed name, e.g. "custom:module:function" (pipelines.custom).
FACTORIES: dict[str, Callable[[str], Variant]] = {}


def register(cls: type[Variant]) -> type[Variant]:
    """Class decorator: add one instance of the variant to the registry."""
    variant = cls()
    if variant.name in REGISTRY:
        raise RuntimeError(f"variant {variant.name!r} registered twice")
    REGISTRY[variant.name] = variant
    return cls


def families() -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for variant in REGISTRY.values():
        grouped.setdefault(variant.family, []).append(variant.name)
    return grouped


def family_defaults(with_clusters: bool = True) -> list[str]:
    """One variant per family, in registry order: the one marked `family_default`, else the first."""
    from pipelines.plugins import load_plugins

    load_plugins()
    chosen: dict[str, Variant] = {}
    for variant in REGISTRY.values():
        if variant.local_cluster and not with_clusters:
            continue
        current = chosen.get(variant.family)
        if current is None or (variant.family_default and not current.family_default):
            chosen[variant.family] = variant
    return [v.name for v in REGISTRY.values() if chosen.get(v.family) is v]


def with_capability(flag: str) -> list[str]:
    """The registered variants whose capability `flag` is set, in registry order."""
    from pipelines.plugins import load_plugins

    load_plugins()
    return [name for name, variant in REGISTRY.items() if getattr(variant, flag)]


def reference_variant() -> str:
    """The one variant declared as the tuned reference."""
    found = with_capability("reference")
    if len(found) != 1:
        raise RuntimeError(f"exactly one variant must be the reference, found {found}")
    return found[0]


def get_variant(name: str) -> Variant:
    prefix, sep, rest = name.partition(":")
    if sep and prefix in FACTORIES:
        return FACTORIES[prefix](rest)
    if name not in REGISTRY:
        from pipelines.plugins import load_plugins

        load_plugins()  # a cell's process sees the plugin variants its parent saw
    try:
        return REGISTRY[name]
    except KeyError:
        raise unknown_choice("variant", name, sorted(REGISTRY)) from None


def expand_names(names: Iterable[str]) -> list[str]:
    """Variant names from a mix of variant and family names, in registry order, no repeats."""
    grouped = families()
    chosen: list[str] = []
    for name in names:
        if name in REGISTRY:
            members = [name]
        elif name in grouped:
            members = grouped[name]
        else:
            valid = sorted(set(REGISTRY) | set(grouped))
            raise unknown_choice("variant or family", name, valid)
        chosen.extend(m for m in members if m not in chosen)
    return chosen


def split_overrides(pairs: Iterable[str]) -> dict[str, dict[str, str]]:
    """Parse `NAME=VALUE` / `VARIANT.NAME=VALUE` into {scope: {name: value}}; scope '*' is global."""
    scoped: dict[str, dict[str, str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PipebenchError(f"--opt {pair!r} is not NAME=VALUE or VARIANT.NAME=VALUE")
        scope, dot, name = key.rpartition(".")
        scoped.setdefault(scope if dot else "*", {})[name] = value
    return scoped


def options_for(variant: Variant, scoped: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """The resolved options of one variant: global overrides, then its own."""
    merged = {**scoped.get("*", {}), **scoped.get(variant.name, {})}
    return variant.resolve_options(merged)


def cell_options(variant: Variant, run_options: Iterable[str], own_options: Iterable[str]) -> dict[str, Any]:
    """The resolved options of a run's cell: the run's `--opt` values, then the cell's own
    `NAME=VALUE` options (e.g. a service cell's `workers=2`) over them."""
    scoped = split_overrides(run_options)
    own = split_overrides(own_options).get("*", {})
    scoped[variant.name] = {**scoped.get(variant.name, {}), **own}
    return options_for(variant, scoped)


def validate_overrides(variant_names: Iterable[str], scoped: Mapping[str, Mapping[str, str]]) -> None:
    """Reject option names no selected variant has, and values out of range, before any run."""
    variants = [get_variant(n) for n in variant_names]
    known = sorted({opt.name for v in variants for opt in v.options})
    for scope, values in scoped.items():
        targets = variants if scope == "*" else [get_variant(scope)]
        for name in values:
            if not any(name in {o.name for o in v.options} for v in targets):
                where = "the selected variants" if scope == "*" else f"variant {scope!r}"
                raise unknown_choice(f"option for {where}:", name, known or ["(none)"])
        for v in targets:
            v.resolve_options(values)


def is_pydataset(x) -> bool:
    """A Keras PyDataset (or anything shaped like one): indexed batches with epoch hooks."""
    return all(hasattr(x, name) for name in ("__getitem__", "__len__", "on_epoch_end"))


def iterate_batches(fit_input: FitInput, batch_size: int, as_numpy: bool = True):
    """Yield one epoch of `(images, labels)` batches from any kind of FitInput.

    Used to inspect what a variant delivers without a model (tests, with NumPy
    batches) and to time it (pipeline-only and simulated modes, with the batches
    as delivered: converting them would add a copy to what is timed). Infinite
    inputs stop after `steps_per_epoch` batches.
    """
    import itertools

    import numpy as np

    x, steps = fit_input.x, fit_input.steps_per_epoch
    if isinstance(x, np.ndarray):
        order = np.arange(len(x))
        if fit_input.fit_kwargs.get("shuffle"):
            order = np.random.default_rng().permutation(len(x))
        for start in range(0, len(x), batch_size):
            picked = order[start:start + batch_size]
            yield x[picked], np.asarray(fit_input.y)[picked]
        return
    # a PyDataset is read in order, in this thread; anything else is iterated
    batches = (x[i] for i in range(len(x))) if is_pydataset(x) else iter(x)
    for images, labels in itertools.islice(batches, steps):
        yield (np.asarray(images), np.asarray(labels)) if as_numpy else (images, labels)
    if hasattr(x, "on_epoch_end"):
        x.on_epoch_end()
