"""`pipebench profile` and `pipebench sweep`: one variant, measured in this process.

profile: the stage breakdown (`bench.tune.breakdown`), the pipeline's own rate, the
advice the rules give (`bench.tune.advice`), each piece applied and measured, and
the option changes applied together; for a tf.data variant also the tuned
preset as the reference. sweep: throughput against each knob (`bench.tune.sweep`).
Both write `results/profile-<time>/` with a JSON record and `profile.html`.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench.data.dataset import DataSpec
from bench.errors import PipebenchError
from bench.results.tune_records import TuneConfig, TuneRecord


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
    min_sample_s: float = 1.0  # every sample lasts at least this long (calibrated)
    rounds: int | None = None  # None: the fewest with which the paired test can find a difference
    seed: int = 0


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


def sampler_for(job: ProfileJob, config: dict):
    from bench.tune.rounds import PipelineSampler

    return PipelineSampler(config["variant"], job.spec, job.out_dir / "scratch", config["overrides"],
                           config["augmentation"], config["mode"], job.step_s, job.batch_size,
                           job.min_sample_s)


def pilot(job: ProfileJob, base: dict) -> dict:
    """One calibrated sample of the unchanged pipeline, alone and at the simulated rate: what the
    rules read (a pilot; the verification's rounds replace it)."""
    unchanged = {"variant": job.variant, "overrides": base, "augmentation": job.augmentation}
    alone = sampler_for(job, {**unchanged, "mode": "pipeline"})()
    simulated = sampler_for(job, {**unchanged, "mode": "simulated"})()
    return {"pipeline_images_per_sec": alone["images_per_sec"], "au": simulated["au"],
            "pilot": {"pipeline": alone, "simulated": simulated}}


def verify_advice(job: ProfileJob, variant, items: list, base: dict) -> dict:
    """Every piece of advice, the combination and the reference, measured in interleaved rounds."""
    from bench.tune import advice
    from bench.tune.rounds import interleave, rounds_for, summary_record
    from pipelines.base import get_variant, reference_variant

    combined = advice.combined_overrides(items, job.variant)
    tuned = reference_variant()
    reference = tuned if variant.family == get_variant(tuned).family and job.variant != tuned else None
    configs, pairs = advice.verification_plan(items, job.variant, job.augmentation, base,
                                              combined if combined and combined != base else None, reference)
    rounds = rounds_for(len(pairs), job.rounds)
    say(f"verifying {len(items)} piece(s) of advice: {len(configs)} configurations x {rounds} rounds")
    samples, orders = interleave({name: sampler_for(job, c) for name, c in configs.items()}, rounds, job.seed)
    found = {**advice.verify(items, configs, pairs, samples), "rounds": orders,
             "pipeline": summary_record(samples["unchanged:pipeline"])}
    if "combined" in configs:
        found["combined"] = {"overrides": combined, **summary_record(samples["combined"])}
    if reference:
        found["reference"] = {"variant": reference, **summary_record(samples["reference"])}
    if "unchanged:simulated" in samples:
        found["au"] = summary_record(samples["unchanged:simulated"])["au"]
    return found


def run_profile(job: ProfileJob, verify: bool = True, trace: bool = False) -> dict:
    """Stages, rate, advice (verified in rounds), combined advice and reference; saved and rendered."""
    from bench.run import memory
    from bench.stats import PAIRED_TEST
    from bench.tune import advice
    from bench.tune.breakdown import ProfileUnsupported, profile_variant

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
    record.update(pilot(job, base))
    fits = memory.refusal(job.variant, 1, job.spec, None) is None
    items = advice.advise(record, variant, request.options, job.augmentation, fits, job.target_rate)
    record["advice"] = [a.to_dict() for a in items]
    record["test"] = PAIRED_TEST
    if verify and items:
        items = [replace(a, overrides={**base, **a.overrides}) for a in items]
        record.update(verify_advice(job, variant, items, base))
        record["pipeline_images_per_sec"] = record["pipeline"]["median"]
    if trace:
        record["trace_dir"] = str(capture_trace(job))
    return save(job, "profile", record)


def run_sweep_job(job: ProfileJob, knobs: list[str] | None = None) -> dict:
    from bench.tune.sweep import knobs_for, run_sweep

    variant, request = variant_and_request(job)
    (job.out_dir / "scratch").mkdir(parents=True, exist_ok=True)
    chosen = knobs or knobs_for(variant)
    valid = knobs_for(variant)
    for knob in chosen:
        if knob not in valid:
            raise PipebenchError(f"knob {knob!r} does not apply to {job.variant}; valid: {', '.join(valid)}")
    done = []

    def on_point(name, round_, sample):
        done.append(name)
        say(f"[{len(done)}] round {round_ + 1}: {name}: {sample['images_per_sec'] or 0:,.0f} images/s")

    result = run_sweep(variant, job, chosen, overrides_of(job), on_sample=on_point)
    return save(job, "sweep", result)


def capture_trace(job: ProfileJob, steps: int = 20) -> Path:
    """A TensorBoard profile of a few training steps of the variant (open with tensorboard)."""
    import tensorflow as tf

    from bench.run import in_process
    from bench.run.models import build_model

    trace_dir = job.out_dir / "trace"
    model, _ = build_model("small_cnn", job.spec.image_size, job.spec.num_classes, seed=0)
    with in_process.built(job.variant, job.spec, job.out_dir / "scratch", overrides_of(job),
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


def tune_config(job: ProfileJob) -> TuneConfig:
    return TuneConfig(variant=job.variant, options=tuple(job.options), augmentation=job.augmentation,
                      batch_size=job.batch_size, target_rate=job.target_rate, dataset=job.spec.fingerprint(),
                      min_sample_s=job.min_sample_s, rounds=job.rounds, seed=job.seed)


def save(job: ProfileJob, kind: str, body: dict) -> dict:
    """Write `<kind>.json` (a typed `TuneRecord`) and render the page; the record, and the page's path."""
    from bench.report.tune_page import render_profile
    from bench.run import environment
    from pipelines.files import atomic_write_text

    record = TuneRecord(kind=kind, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        environment=environment.fingerprint(), config=tune_config(job), body=body)
    shutil.rmtree(job.out_dir / "scratch", ignore_errors=True)  # caches and shards of the measurements
    atomic_write_text(job.out_dir / f"{kind}.json", json.dumps(record.to_dict(), indent=1, default=str))
    return {**record.to_dict(), "report": str(render_profile(job.out_dir))}


def profilable() -> list[str]:
    """The registered variants that describe themselves as stages."""
    from pipelines import REGISTRY, Variant

    return [name for name, variant in REGISTRY.items() if type(variant).stages is not Variant.stages]


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
