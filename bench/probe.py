"""Pipeline-only probes of one variant outside the runner, for asv and pytest-benchmark.

They reuse the harness's own pipeline mode (`bench.modes.run_pipeline`: a plain
loop over the variant's batches, one warm-up epoch, then steady state), so a
regression tracked there is a regression in what `pipebench run` measures.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import time
from pathlib import Path

from bench.data import DataSpec, EmbeddedDataset, resolve_spec

SMALL = EmbeddedDataset(num_train=256, num_val=32, image_size=32, num_classes=4)
BATCH_SIZE = 32
PROBE_EPOCHS = 3  # one warm-up, two timed
SHARED_MODULES = ("pipelines.base", "pipelines.decode", "pipelines.augment", "pipelines.tfdata",
                  "bench.modes", "bench.probe", "bench.service")


def small_spec(dataset: EmbeddedDataset = SMALL) -> DataSpec:
    """The fixed small dataset (generated once under the cache root), with its data check."""
    return resolve_spec(None, None, 0.2, dataset, seed=0)[0]


@contextlib.contextmanager
def built(variant: str, spec: DataSpec, scratch: Path, overrides: dict | None = None,
          batch_size: int = BATCH_SIZE, augmentation: str = "none"):
    """Yield the variant's FitInput (default options plus `overrides`) and its build time.

    A `tf_data_service` variant gets its local cluster for as long as the block runs.
    """
    from bench.service import service_for
    from pipelines import PipelineRequest, get_variant
    from pipelines.base import options_for

    chosen = get_variant(variant)
    with service_for(options_for(chosen, {"*": overrides or {}}), scratch / "service") as (options, _):
        request = PipelineRequest(spec=spec, batch_size=batch_size, seed=0, augmentation=augmentation,
                                  options=options, cache_dir=scratch)
        started = time.perf_counter()
        fit_input = chosen.build(request)
        yield fit_input, time.perf_counter() - started


def settings(spec: DataSpec, epochs: int = PROBE_EPOCHS, batch_size: int = BATCH_SIZE, step_s: float = 0.0):
    from bench.modes import ModeSettings

    return ModeSettings(image_size=spec.image_size, num_classes=spec.num_classes, batch_size=batch_size,
                        num_train=len(spec.train_files), probe_epochs=epochs, step_s=step_s)


def pipeline_only(variant: str, spec: DataSpec, scratch: Path, epochs: int = PROBE_EPOCHS) -> dict:
    """Build and read `epochs` epochs; the harness's pipeline-mode record plus `build_s`."""
    from bench.modes import run_pipeline

    with built(variant, spec, scratch) as (fit_input, build_s):
        return {**run_pipeline(fit_input, settings(spec, epochs)), "build_s": build_s}


def epoch_rates(variant: str, spec: DataSpec, scratch: Path, epochs: int, overrides: dict | None = None,
                batch_size: int = BATCH_SIZE, augmentation: str = "none"):
    """Pipeline-only images/s of each epoch after the first (raw samples for `summarize`)."""
    from bench.modes import run_pipeline

    with built(variant, spec, scratch, overrides, batch_size, augmentation) as (fit_input, _):
        return steady_rates(run_pipeline(fit_input, settings(spec, epochs + 1, batch_size)))


def steady_rates(record: dict) -> list[float]:
    """Images/s of each epoch of a mode's record after the first (the warm-up)."""
    return [e["images"] / e["train_s"] for e in record["epochs"][1:] if e["train_s"] > 0]


def code_version(variant: str, extra_files: tuple[str, ...] = ()) -> str:
    """Hash of the code that decides the variant's speed: its family module and the shared ones.

    asv keys results by a benchmark's version; deriving it from the pipeline's
    code (not only the benchmark's) starts a new series when the pipeline changes.
    """
    from pipelines import get_variant

    modules = (type(get_variant(variant)).__module__, *SHARED_MODULES)
    digest = hashlib.sha256()
    for path in (*(importlib.util.find_spec(m).origin for m in modules), *extra_files):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]
