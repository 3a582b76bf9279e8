"""Stage breakdown: which stage of a pipeline limits it, measured on this machine.

A variant that can describe itself as stages (`Variant.stages`: list -> read ->
decode -> resize -> batch -> augment -> prefetch for tf.data; load, decode,
resize, collate for the Python loaders) is measured prefix by prefix, each
prefix read to the end with no parallelism, after a warm-up pass. A stage's
cost is the difference between its prefix and the one before: wall seconds
and process CPU seconds per image. The rate a stage alone could sustain is
`cores / cpu_s_per_image` for TensorFlow ops, which spread over the cores, and
`1 / cpu_s_per_image` for Python stages, which hold the GIL; the stage with
the lowest such rate is the bottleneck (the idea of Plumber, MLSys 2022).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

import numpy as np

PASSES = 3  # timed passes per prefix (after one warm-up); the median is kept
MEASURABLE_S = 5e-6  # a stage costing under 5 µs per image is below this method's resolution: no rate


@dataclass(frozen=True)
class StageCost:
    """What one stage adds per image, and the rate it alone could sustain here."""

    name: str
    wall_us_per_image: float
    cpu_us_per_image: float
    python: bool  # holds the GIL: one core at most, however many threads
    rate_images_per_sec: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def time_pass(run_once) -> tuple[float, float]:
    """Wall and process-CPU seconds of one full pass."""
    cpu_start, start = time.process_time(), time.perf_counter()  # CPU of every thread, ns resolution
    run_once()
    return time.perf_counter() - start, time.process_time() - cpu_start


def median_pass(run_once) -> tuple[float, float]:
    """Median wall and CPU seconds of `PASSES` passes, after one warm-up (file cache, tracing)."""
    time_pass(run_once)
    passes = [time_pass(run_once) for _ in range(PASSES)]
    return float(np.median([p[0] for p in passes])), float(np.median([p[1] for p in passes]))


def empty(source):
    """The source with no elements: a tf.data dataset's `take(0)`, else an empty list."""
    return source.take(0) if hasattr(source, "take") else []


def measure_prefixes(stages, source, drainer, images: int) -> list[tuple[str, bool, float, float]]:
    """For each prefix (source + stages[:k]): its stage's name, python flag, wall and CPU s/image.

    Every prefix reads the whole dataset once per pass, so costs are per image of
    the dataset, whatever the prefix's elements are (file names, records, batches).
    """
    measured = []
    from pipelines.stages import build_prefix

    base_wall, base_cpu = median_pass(drainer(empty(source)))  # set-up of a pass, not of any image
    for k, stage in enumerate(stages):
        wall, cpu = median_pass(drainer(build_prefix(source, stages[: k + 1])))
        wall, cpu = max(wall - base_wall, 0.0) / images, max(cpu - base_cpu, 0.0) / images
        measured.append((stage.name, stage.python, wall, cpu))
    return measured


def stage_costs(measured, cores: int) -> list[StageCost]:
    """Per-stage differences of the prefix costs (clamped at zero: noise on cheap stages)."""
    costs, last_wall, last_cpu = [], 0.0, 0.0
    for name, python, wall, cpu in measured:
        own_wall, own_cpu = max(wall - last_wall, 0.0), max(cpu - last_cpu, 0.0)
        last_wall, last_cpu = max(wall, last_wall), max(cpu, last_cpu)
        busy = max(own_cpu, own_wall if python else 0.0)
        rate = None if busy < MEASURABLE_S else (1.0 if python else cores) / busy
        costs.append(StageCost(name, own_wall * 1e6, own_cpu * 1e6, python, rate))
    return costs


def bottleneck(costs: list[StageCost]) -> StageCost:
    """The stage whose own rate is lowest (stages too cheap to measure are never it)."""
    rated = [c for c in costs if c.rate_images_per_sec is not None]
    return min(rated, key=lambda c: c.rate_images_per_sec) if rated else costs[-1]


def profile_variant(variant, request) -> dict:
    """The stage breakdown of one variant for one request, as a JSON-ready record."""
    plan = variant.stages(request)
    if plan is None:
        raise ProfileUnsupported(variant.name)
    source, stages, drainer = plan
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    images = max(len(request.spec.train_files), 1)
    costs = stage_costs(measure_prefixes(stages, source, drainer, images), cores)
    slowest = bottleneck(costs)
    return {"variant": variant.name, "cores": cores, "images": len(request.spec.train_files),
            "stages": [c.to_dict() for c in costs], "bottleneck": slowest.name,
            "bottleneck_rate_images_per_sec": slowest.rate_images_per_sec}


class ProfileUnsupported(Exception):
    """The variant cannot describe itself as stages."""
