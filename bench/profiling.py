"""`pipebench profile` and `pipebench sweep`: one variant, measured in this process.

profile: the stage breakdown (`bench.profile`), the pipeline's own rate, the
advice the rules give (`bench.advice`), each piece applied and measured, and
the option changes applied together; for a tf.data variant also the tuned
preset as the reference. sweep: throughput against each knob (`bench.sweep`).
Both write `results/profile-<time>/` with a JSON record and `profile.html`.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench.data import DataSpec
from bench.errors import PipebenchError

REFERENCE = "tf_data_tuned"


@dataclass(frozen=True)
class ProfileJob:
    variant: str
    spec: DataSpec
    options: tuple[str, ...]
    augmentation: str
    batch_size: int
    step_s: float
    target_rate: float
    out_dir: Path


def variant_and_request(job: ProfileJob):
    from pipelines import PipelineRequest, get_variant
    from pipelines.base import options_for, split_overrides, validate_overrides

    variant = get_variant(job.variant)
    validate_overrides([variant.name], split_overrides(job.options))
    options = options_for(variant, split_overrides(job.options))
    request = PipelineRequest(spec=job.spec, batch_size=job.batch_size, seed=0, augmentation=job.augmentation,
                              options=options, cache_dir=job.out_dir / "scratch")
    return variant, request


def overrides_of(job: ProfileJob) -> dict:
    from pipelines.base import split_overrides

    scoped = split_overrides(job.options)
    return {**scoped.get("*", {}), **scoped.get(job.variant, {})}


def run_profile(job: ProfileJob, verify: bool = True, trace: bool = False) -> dict:
    """Stages, rate, advice (verified), combined advice and reference; saved and rendered."""
    from bench import advice, memory
    from bench.profile import ProfileUnsupported, profile_variant

    variant, request = variant_and_request(job)
    try:
        (job.out_dir / "scratch").mkdir(parents=True, exist_ok=True)
        record = profile_variant(variant, request)
    except ProfileUnsupported:
        job.out_dir.joinpath("scratch").rmdir()
        job.out_dir.rmdir()
        raise PipebenchError(f"variant {job.variant!r} cannot be split into stages; profile one of: "
                             f"{', '.join(profilable())}") from None
    say(f"stages of {job.variant}: bottleneck {record['bottleneck']}")
    base = overrides_of(job)
    own = advice.measure(job.variant, job.spec, request.cache_dir, base, job.augmentation, "pipeline", 0.0)
    record["pipeline_images_per_sec"] = own["median"]
    record["pipeline"] = own
    record["au"] = advice.measure(job.variant, job.spec, request.cache_dir, base, job.augmentation,
                                  "simulated", job.step_s)["au"]
    fits = memory.refusal(job.variant, 1, job.spec, None) is None
    items = advice.advise(record, variant, request.options, job.augmentation, fits, job.target_rate)
    record["advice"] = [a.to_dict() for a in items]
    if verify and items:
        say(f"verifying {len(items)} piece(s) of advice by measurement")
        items = [replace(a, overrides={**base, **a.overrides}) for a in items]
        record["verified"] = advice.verify(items, job.variant, job.spec, request.cache_dir,
                                           job.augmentation, job.step_s)
        combined = advice.combined_overrides(items, job.variant)
        if combined and combined != base:
            record["combined"] = {"overrides": combined, **advice.measure(
                job.variant, job.spec, request.cache_dir, combined, job.augmentation, "pipeline", 0.0)}
        if variant.family == "tf_data" and job.variant != REFERENCE:
            record["reference"] = {"variant": REFERENCE, **advice.measure(
                REFERENCE, job.spec, request.cache_dir, {}, job.augmentation, "pipeline", 0.0)}
    if trace:
        record["trace_dir"] = str(capture_trace(job))
    return save(job, {"kind": "profile", "config": job_record(job), **record})


def run_sweep_job(job: ProfileJob, knobs: list[str] | None = None) -> dict:
    from bench.sweep import KNOB_VALUES, knobs_for, run_sweep

    variant, request = variant_and_request(job)
    (job.out_dir / "scratch").mkdir(parents=True, exist_ok=True)
    chosen = knobs or knobs_for(variant)
    valid = knobs_for(variant)
    for knob in chosen:
        if knob not in valid:
            raise PipebenchError(f"knob {knob!r} does not apply to {job.variant}; valid: {', '.join(valid)}")
    total = sum(len(KNOB_VALUES[k]) for k in chosen)
    done = []

    def on_point(point):
        done.append(point)
        say(f"[{len(done)}/{total}] {point['knob']}={point['value']}: {point['median']:,.0f} images/s "
            f"({point['mode']})")

    result = run_sweep(variant, job.spec, request.cache_dir, chosen, on_point=on_point)
    return save(job, {"kind": "sweep", "config": job_record(job), **result})


def capture_trace(job: ProfileJob, steps: int = 20) -> Path:
    """A TensorBoard profile of a few training steps of the variant (open with tensorboard)."""
    import tensorflow as tf

    from bench import probe
    from bench.models import build_model

    trace_dir = job.out_dir / "trace"
    model, _ = build_model("small_cnn", job.spec.image_size, job.spec.num_classes, seed=0)
    with probe.built(job.variant, job.spec, job.out_dir / "scratch", overrides_of(job),
                     job.batch_size, job.augmentation) as (fit_input, _):
        model.fit(fit_input.x, fit_input.y, epochs=1, steps_per_epoch=2, verbose=0, **fit_input.fit_kwargs)
        tf.profiler.experimental.start(str(trace_dir))
        try:
            model.fit(fit_input.x, fit_input.y, epochs=1, steps_per_epoch=min(steps, steps_in(job)),
                      verbose=0, **fit_input.fit_kwargs)
        finally:
            tf.profiler.experimental.stop()
    return trace_dir


def steps_in(job: ProfileJob) -> int:
    return max(1, len(job.spec.train_files) // job.batch_size)


def job_record(job: ProfileJob) -> dict:
    return {"variant": job.variant, "options": list(job.options), "augmentation": job.augmentation,
            "batch_size": job.batch_size, "target_rate": job.target_rate, "dataset": job.spec.fingerprint()}


def save(job: ProfileJob, record: dict) -> dict:
    from bench import environment
    from bench.report.profile_page import render_profile
    from bench.results import atomic_write_text

    record = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "environment": environment.fingerprint(),
              **record}
    shutil.rmtree(job.out_dir / "scratch", ignore_errors=True)  # caches and shards of the measurements
    atomic_write_text(job.out_dir / f"{record['kind']}.json", json.dumps(record, indent=1, default=str))
    record["report"] = str(render_profile(job.out_dir))
    return record


def profilable() -> list[str]:
    """The registered variants that describe themselves as stages."""
    from pipelines import REGISTRY, Variant

    return [name for name, variant in REGISTRY.items() if type(variant).stages is not Variant.stages]


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
