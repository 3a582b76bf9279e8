"""Interleaved rounds of calibrated samples inside one process, for the tuning tools.

`pipebench profile` (verifying advice) and `pipebench sweep` compare an unchanged
pipeline with changed ones. They follow the runner's rules: every sample is
calibrated to last at least `min_sample_s` (epochs fixed per configuration on its
first use, as pyperf fixes its loops), every configuration is measured once per
round in an order shuffled with the seed, and changed and unchanged are compared
per round with the paired test of `bench.stats`. Per-epoch rates of one pipeline
instance are never used as independent samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.run import in_process
from bench.stats import Comparison, finish_comparisons, min_rounds_for, paired, summarize

MIN_ROUNDS = 6  # the fewest with which the paired test can call one comparison significant


@dataclass
class PipelineSampler:
    """Calibrated samples of one configuration of a variant, in pipeline or simulated mode."""

    variant: str
    spec: object
    scratch: Path
    overrides: dict = field(default_factory=dict)
    augmentation: str = "none"
    mode: str = "pipeline"
    step_s: float = 0.0
    batch_size: int = in_process.BATCH_SIZE
    min_sample_s: float = 1.0
    loops: int | None = None

    def settings(self):
        return in_process.settings(self.spec, batch_size=self.batch_size,
                              step_s=self.step_s if self.mode == "simulated" else 0.0,
                              min_sample_s=self.min_sample_s)

    def __call__(self) -> dict:
        from bench.run.modes import calibrate_epochs, run_pipeline, run_simulated

        settings = self.settings()
        if self.loops is None:
            with in_process.built(self.variant, self.spec, self.scratch, self.overrides, self.batch_size,
                             self.augmentation) as (fit_input, _):
                # each try re-reads this input (warm after the first): a sample's length is what matters
                pipeline_epochs, simulated_epochs, _ = calibrate_epochs(lambda: fit_input, settings)
            self.loops = simulated_epochs if self.mode == "simulated" else pipeline_epochs
        with in_process.built(self.variant, self.spec, self.scratch, self.overrides, self.batch_size,
                         self.augmentation) as (fit_input, _):
            run = run_simulated if self.mode == "simulated" else run_pipeline
            record = run(fit_input, settings, self.loops)
        return {key: record.get(key) for key in ("images_per_sec", "images", "seconds", "loops", "au")}


def rounds_for(comparisons: int, asked: int | None = None) -> int:
    """`asked`, else the fewest rounds with which Holm over `comparisons` can find a difference."""
    return asked or max(MIN_ROUNDS, min_rounds_for(comparisons))


def interleave(samplers: dict[str, Callable[[], dict]], rounds: int, seed: int = 0,
               on_sample=None) -> tuple[dict[str, list[dict]], list[list[str]]]:
    """Every sampler once per round, in an order shuffled per round; their samples and the orders."""
    names = list(samplers)
    samples: dict[str, list[dict]] = {name: [] for name in names}
    orders = []
    for round_ in range(rounds):
        rng = np.random.default_rng([seed, round_])
        order = [names[i] for i in rng.permutation(len(names))]
        orders.append(order)
        for name in order:
            samples[name].append({"round": round_, **samplers[name]()})
            if on_sample is not None:
                on_sample(name, round_, samples[name][-1])
    return samples, orders


def by_round(samples: list[dict], key: str = "images_per_sec") -> dict[int, float]:
    return {s["round"]: s[key] for s in samples if s.get(key) is not None}


def summary_record(samples: list[dict]) -> dict:
    """The raw samples of one configuration with their median and interval (and its coverage)."""
    summary = summarize([s["images_per_sec"] for s in samples])
    aus = [s["au"] for s in samples if s.get("au") is not None]
    return {"samples": samples, "median": summary.median if summary else None,
            "low": summary.low if summary else None, "high": summary.high if summary else None,
            "coverage": summary.coverage if summary else None,
            "au": float(np.median(aus)) if aus else None}


def compare_pairs(samples: dict[str, list[dict]], pairs: list[tuple[str, str, str]]) -> list[Comparison]:
    """Paired comparisons (subject vs reference, per round), Holm-corrected together."""
    return finish_comparisons([paired(subject, reference, mode, by_round(samples[subject]),
                                      by_round(samples[reference])) for subject, reference, mode in pairs])
