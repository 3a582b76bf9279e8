"""Sweeps: throughput of one variant against each of its knobs, one knob at a time.

Pipeline knobs (parallelism, prefetch depth, cache, PyDataset workers and
processes, TFRecord read parallelism, batch size) are measured in pipeline-only
mode; precision changes the model, not the input, so it is swept on the
model-only bound (the identical model on a resident batch). Every point is a
configuration measured once per round, all of them in interleaved rounds with
calibrated samples (`bench.tune.rounds`); each is compared, paired by round, with the
variant as configured ("current"; for precision, with float32), Holm-corrected
across the sweep. The best value of a knob is its highest median, with the test's
verdict against the current setting beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KNOB_VALUES = {
    "parallel_calls": ("1", "2", "4", "autotune"),
    "read_parallelism": ("1", "2", "4", "autotune"),
    "workers": ("1", "2", "4"),
    "use_multiprocessing": ("false", "true"),
    "prefetch": ("0", "1", "2", "autotune"),
    "cache": ("none", "memory", "disk"),
    "batch_size": ("16", "32", "64", "128"),
    "precision": ("float32", "mixed_bfloat16"),
}
CURRENT = "current"


def knobs_for(variant) -> list[str]:
    """The knobs that apply to `variant`: its options with sweep values, batch size, precision."""
    own = [o.name for o in variant.options if o.sweep or o.name in KNOB_VALUES]
    return [*own, "batch_size", "precision"]


def knob_values(variant, knob: str) -> tuple[str, ...]:
    """The values swept for `knob`: those its option declares, else the table's."""
    declared = next((o.sweep for o in variant.options if o.name == knob and o.sweep), None)
    return declared or KNOB_VALUES[knob]


@dataclass
class ModelOnlySampler:
    """Calibrated model-only samples of the identical model under one precision."""

    spec: object
    precision: str
    batch_size: int
    min_sample_s: float
    built: tuple | None = field(default=None, repr=False)

    def __call__(self) -> dict:
        from bench.run import in_process
        from bench.run.modes import calibrate_model_only, run_model_only

        settings = in_process.settings(self.spec, self.batch_size, min_sample_s=self.min_sample_s)
        if self.built is None:
            model, batch = self.build()
            self.built = (model, batch, calibrate_model_only(model, batch, settings)[0])
        model, batch, steps = self.built
        record = run_model_only(model, batch, settings, steps)
        return {key: record.get(key) for key in ("images_per_sec", "images", "seconds", "loops")}

    def build(self):
        """The model built under this precision's policy (the policy is reset afterwards)."""
        import keras
        import numpy as np

        from bench.run.models import build_model, set_precision
        from pipelines.decode import decode_all

        set_precision(self.precision, has_gpu=False)
        try:
            model, _ = build_model("small_cnn", self.spec.image_size, self.spec.num_classes, seed=0)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        batch = (decode_all(self.spec.train_files[:self.batch_size], self.spec.image_size),
                 np.asarray(self.spec.train_labels[:self.batch_size], np.int32))
        return model, batch


def sweep_plan(variant, job, knobs: list[str], base: dict) -> tuple[dict, dict, list]:
    """Samplers by point name, each point's (knob, value, mode), and the pairs to compare."""
    from bench.tune.rounds import PipelineSampler

    scratch = job.out_dir / "scratch"

    def pipeline(overrides=None, batch_size=job.batch_size):
        return PipelineSampler(job.variant, job.spec, scratch, {**base, **(overrides or {})},
                               job.augmentation, "pipeline", 0.0, batch_size, job.min_sample_s)

    samplers, points, pairs = {CURRENT: pipeline()}, {}, []
    for knob in knobs:
        for value in knob_values(variant, knob):
            name = f"{knob}={value}"
            if knob == "precision":
                samplers[name] = ModelOnlySampler(job.spec, value, job.batch_size, job.min_sample_s)
                points[name] = (knob, value, "model_only")
                if value != "float32":
                    pairs.append((name, "precision=float32", "model_only"))
                continue
            sized = knob == "batch_size"
            samplers[name] = pipeline(batch_size=int(value)) if sized else pipeline({knob: value})
            points[name] = (knob, value, "pipeline")
            pairs.append((name, CURRENT, "pipeline"))
    return samplers, points, pairs


def run_sweep(variant, job, knobs: list[str], base: dict | None = None, on_sample=None) -> dict:
    """Every value of every knob in interleaved rounds; the points, their comparisons, the best values."""
    from bench.stats import PAIRED_TEST
    from bench.tune.rounds import compare_pairs, interleave, rounds_for, summary_record

    samplers, points, pairs = sweep_plan(variant, job, knobs, base or {})
    rounds = rounds_for(len(pairs), job.rounds)
    samples, orders = interleave(samplers, rounds, job.seed, on_sample)
    compared = {c.subject: c for c in compare_pairs(samples, pairs)}
    records = [{"knob": knob, "value": value, "mode": mode, **summary_record(samples[name]),
                "comparison": compared[name].to_dict() if name in compared else None}
               for name, (knob, value, mode) in points.items()]
    best = {}
    for knob in knobs:
        of_knob = [p for p in records if p["knob"] == knob and p["median"]]
        if of_knob:
            top = max(of_knob, key=lambda p: p["median"])
            best[knob] = {"value": top["value"], "median": top["median"], "mode": top["mode"],
                          "comparison": top["comparison"]}
    return {"variant": variant.name, "points": records, "best": best, "rounds": orders, "test": PAIRED_TEST,
            "current": summary_record(samples[CURRENT])}
