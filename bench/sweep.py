"""Sweeps: throughput of one variant against each of its knobs, one knob at a time.

Pipeline knobs (parallelism, prefetch depth, cache, PyDataset workers and
processes, TFRecord read parallelism, batch size) are measured in pipeline-only
mode; precision changes the model, not the input, so it is swept on the
model-only bound (the identical model on a resident batch). Every point keeps
its raw per-epoch samples; the best value of each knob is the highest median.
"""

from __future__ import annotations

from pathlib import Path

from bench import probe
from bench.measure import summary_record

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
SWEEP_EPOCHS = 3


def knobs_for(variant) -> list[str]:
    """The knobs that apply to `variant`: its own options among KNOB_VALUES, batch size, precision."""
    own = [o.name for o in variant.options if o.name in KNOB_VALUES]
    return [*own, "batch_size", "precision"]


def precision_rates(spec, precision: str, epochs: int) -> list[float]:
    """Model-only images/s per epoch of the identical model under `precision`."""
    import keras
    import numpy as np

    from bench.models import build_model, set_precision
    from bench.modes import run_model_only
    from pipelines.decode import decode_all

    set_precision(precision, has_gpu=False)
    try:
        model, _ = build_model("small_cnn", spec.image_size, spec.num_classes, seed=0)
        batch = (decode_all(spec.train_files[:probe.BATCH_SIZE], spec.image_size),
                 np.asarray(spec.train_labels[:probe.BATCH_SIZE], np.int32))
        record = run_model_only(model, batch, probe.settings(spec, epochs + 1))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return probe.steady_rates(record)


def sweep_point(variant: str, spec, scratch: Path, knob: str, value: str, epochs: int) -> dict:
    if knob == "precision":
        rates, mode = precision_rates(spec, value, epochs), "model_only"
    elif knob == "batch_size":
        rates, mode = probe.epoch_rates(variant, spec, scratch, epochs, batch_size=int(value)), "pipeline"
    else:
        rates, mode = probe.epoch_rates(variant, spec, scratch, epochs, overrides={knob: value}), "pipeline"
    return {"knob": knob, "value": value, "mode": mode, **summary_record(rates)}


def run_sweep(variant, spec, scratch: Path, knobs: list[str], epochs: int = SWEEP_EPOCHS,
              on_point=None) -> dict:
    """Every value of every knob; returns the points and the best value per knob."""
    points = []
    for knob in knobs:
        for value in KNOB_VALUES[knob]:
            points.append(sweep_point(variant.name, spec, scratch, knob, value, epochs))
            if on_point:
                on_point(points[-1])
    best = {}
    for knob in knobs:
        of_knob = [p for p in points if p["knob"] == knob and p["median"]]
        if of_knob:
            top = max(of_knob, key=lambda p: p["median"])
            best[knob] = {"value": top["value"], "median": top["median"], "mode": top["mode"]}
    return {"variant": variant.name, "points": points, "best": best}
