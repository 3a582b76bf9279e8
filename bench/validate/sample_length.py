"""How stable is a sample of a given length on this machine? The measurement behind --min-sample-s.

For each length, `--repeats` samples of pipebench's own modes, in interleaved rounds
(every length once per round, shuffled): `model_only` (the small CNN on a resident batch)
and `pipeline` (`tf_data_naive`, which decodes JPEGs every epoch), on the preset's data.
It prints, per mode and length, the median rate, the relative half-width of the
order-statistic interval of the median and the coefficient of variation. It states no
known answer: it measures the machine.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.config import PRESETS
from bench.data.dataset import EmbeddedDataset
from bench.run import in_process
from bench.run.models import build_model
from bench.run.modes import calibrate_epochs, calibrate_model_only, run_model_only, run_pipeline
from bench.stats import summarize
from bench.validate.common import Finding
from pipelines.decode import decode_all

TINY = ["--repeats", "2", "--lengths", "0.05,0.1", "--num-train", "64"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--lengths", default="0.1,0.25,0.5,1,2", help="sample lengths, seconds")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--num-train", type=int, help="training files (default: the preset's)")


def samplers(preset_name: str, num_train: int | None, lengths: list[float]) -> dict:
    """(mode, length) -> a function taking one calibrated sample of that length."""
    preset = PRESETS[preset_name]
    spec = in_process.small_spec(EmbeddedDataset(num_train or preset.num_train, preset.num_val,
                                                 preset.image_size, preset.num_classes))
    model, _ = build_model("small_cnn", spec.image_size, spec.num_classes, seed=0)
    batch = (decode_all(spec.train_files[:32], spec.image_size), np.asarray(spec.train_labels[:32], np.int32))
    scratch = Path(tempfile.mkdtemp(prefix="pipebench-lengths-"))
    found = {}
    for length in lengths:
        settings = replace(in_process.settings(spec), min_sample_s=length)
        steps = calibrate_model_only(model, batch, settings)[0]
        found[("model_only", length)] = (lambda s=settings, n=steps:
                                         run_model_only(model, batch, s, n)["images_per_sec"])
        with in_process.built("tf_data_naive", spec, scratch) as (fit_input, _):
            epochs = calibrate_epochs(lambda f=fit_input: f, settings)[0]

        def read(s=settings, n=epochs):
            with in_process.built("tf_data_naive", spec, scratch) as (fresh, _):
                return run_pipeline(fresh, s, n)["images_per_sec"]

        found[("pipeline", length)] = read
    return found


def run(args: argparse.Namespace, folder: Path) -> Finding:
    lengths = [float(v) for v in args.lengths.split(",")]
    found = samplers(args.preset, args.num_train, lengths)
    rates: dict[tuple, list[float]] = {key: [] for key in found}
    keys = list(found)
    for round_ in range(args.repeats):
        for i in np.random.default_rng([0, round_]).permutation(len(keys)):
            rates[keys[i]].append(found[keys[i]]())
    lines = [f"{'mode':10s} {'sample':>7s} {'median':>9s} {'half-width':>11s} {'CV':>6s}  (n={args.repeats})"]
    figures = []
    for mode, length in keys:
        values = rates[(mode, length)]
        s = summarize(values)
        cv = float(np.std(values, ddof=1) / np.mean(values)) if len(values) > 1 else None
        lines.append(f"{mode:10s} {length:6.2f}s {s.median:9,.0f} {s.half_width_fraction:10.1%} "
                     + (f"{cv:6.1%}" if cv is not None else "     -"))
        figures.append({"mode": mode, "min_sample_s": length, "images_per_sec": values,
                        "half_width_fraction": s.half_width_fraction, "cv": cv})
    return Finding("sample-length", None, tuple(lines), {"samples": figures})
