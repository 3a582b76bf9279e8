"""Pipeline-only probes of one variant outside the runner, for asv and pytest-benchmark.

They reuse the harness's own pipeline mode (`bench.run.modes.run_pipeline`: a plain
loop over the variant's batches, one warm-up epoch, then a calibrated sample), so
a regression tracked there is a regression in what `pipebench run` measures.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import time
from pathlib import Path

from bench.data.dataset import DataSpec, EmbeddedDataset, resolve_spec

SMALL = EmbeddedDataset(num_train=256, num_val=32, image_size=32, num_classes=4)
BATCH_SIZE = 32
SHARED_MODULES = ("pipelines.base", "pipelines.decode", "pipelines.augment", "pipelines.tfdata",
                  "pipelines.tfops", "bench.run.modes", "bench.run.fit_timing", "bench.run.in_process",
                  "bench.run.cluster")


def small_spec(dataset: EmbeddedDataset = SMALL) -> DataSpec:
    """The fixed small dataset (generated once under the cache root), with its data check."""
    return resolve_spec(None, None, 0.2, dataset, seed=0)[0]


@contextlib.contextmanager
def built(variant: str, spec: DataSpec, scratch: Path, overrides: dict | None = None,
          batch_size: int = BATCH_SIZE, augmentation: str = "none"):
    """Yield the variant's FitInput (default options plus `overrides`) and its build time.

    A `tf_data_service` variant gets its local cluster for as long as the block runs.
    """
    from bench.run.cluster import service_for
    from pipelines import PipelineRequest, get_variant
    from pipelines.base import options_for

    chosen = get_variant(variant)
    with service_for(options_for(chosen, {"*": overrides or {}}), scratch / "service") as (options, _):
        request = PipelineRequest(spec=spec, batch_size=batch_size, seed=0, augmentation=augmentation,
                                  options=options, cache_dir=scratch)
        started = time.perf_counter()
        fit_input = chosen.build(request)
        yield fit_input, time.perf_counter() - started


def settings(spec: DataSpec, batch_size: int = BATCH_SIZE, step_s: float = 0.0, min_sample_s: float = 1.0):
    from bench.run.modes import ModeSettings

    return ModeSettings(image_size=spec.image_size, num_classes=spec.num_classes, batch_size=batch_size,
                        num_train=len(spec.train_files), step_s=step_s, min_sample_s=min_sample_s)


def pipeline_only(variant: str, spec: DataSpec, scratch: Path, epochs: int | None = None,
                  min_sample_s: float = 1.0) -> dict:
    """Build and read: one warm-up epoch, then a sample of `epochs - 1` epochs or, by default,
    of as many as make it last `min_sample_s` (calibrated on a first build).
    The harness's pipeline-mode record (with its CPU time) plus `build_s`."""
    from bench.run.cpu_clock import CpuClock
    from bench.run.modes import calibrate_epochs, run_pipeline

    chosen = settings(spec, min_sample_s=min_sample_s)
    if epochs is None:
        with built(variant, spec, scratch) as (fit_input, _):
            loops = calibrate_epochs(lambda: fit_input, chosen)[0]
    else:
        loops = epochs - 1
    with built(variant, spec, scratch) as (fit_input, build_s):
        return {**run_pipeline(fit_input, chosen, loops, clock=CpuClock()), "build_s": build_s}


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
