"""A/A runs (no difference) and an A/B pair of a stated ratio, for the speed comparisons.

A/A: each run measures `tf_data_tuned` beside `bench.run.known_cost:same_as_tf_data_tuned`
(exactly its dataset under another name), in interleaved rounds, and compares the two
cells paired by round in every mode run, Holm-corrected across the run's comparisons, as
a report does. Any "faster" or "slower" is a false claim. It holds when at most 5% are.

A/B: pipelines whose batches cost 30 and 45 ms of sleep, and the same pipeline at 0 ms,
in interleaved rounds (`bench.tune.rounds`). Each batch also costs what reading it costs,
o, the 0 ms pipeline's time per batch; so the true rate ratio is (30 ms + o) / (45 ms + o).
It holds when every repeat calls the slower one slower with an interval that contains it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.config import MODES
from bench.results.document import load_run
from bench.results.records import CellResult
from bench.run import known_cost
from bench.run.modes import ModeSettings, calibrate_epochs, run_pipeline
from bench.stats import finish_comparisons, paired
from bench.tune.rounds import compare_pairs, interleave
from bench.validate.common import Finding, fraction, run_pipebench
from pipelines.base import FitInput

AA_PIPELINE = "bench.run.known_cost:same_as_tf_data_tuned"
FALSE_CLAIMS_ALLOWED = 0.05
TINY = ["--runs", "1", "--rounds", "2", "--ab-repeats", "1", "--ab-rounds", "3", "--ab-sample-s", "0.1",
        "--", "--modes", "pipeline", "--num-train", "48", "--num-val", "24", "--image-size", "32",
        "--source-size", "36,56", "--num-classes", "3", "--min-sample-s", "0.05"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=10, help="A/A runs")
    parser.add_argument("--rounds", type=int, default=9, help="rounds per A/A run")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--ab-repeats", type=int, default=5)
    parser.add_argument("--ab-rounds", type=int, default=9)
    parser.add_argument("--ab-sample-s", type=float, default=1.0, help="the A/B samples' shortest length")
    parser.add_argument("extra", nargs="*", help="after --: more `pipebench run` arguments for the A/A runs")


def aa_comparisons(run_dir: Path) -> list:
    """The two cells compared in every mode that was run, paired by round, Holm across them."""
    doc = load_run(run_dir)
    cells = {c["variant"]: CellResult.from_dict(c) for c in doc["cells"]}
    a, b = cells["tf_data_tuned"], cells[f"custom:{AA_PIPELINE}"]
    run_modes = [m for m in MODES if a.by_round(m)]
    return finish_comparisons([paired("custom", "tf_data_tuned", mode, b.by_round(mode), a.by_round(mode))
                               for mode in run_modes])


def ab_repeat(rounds: int, seed: int, min_sample_s: float):
    """30 vs 45 ms per batch, in interleaved rounds: the paired comparison, and the true ratio."""
    count = 8 * known_cost.BATCH
    settings = ModeSettings(image_size=known_cost.IMAGE, num_classes=2, batch_size=known_cost.BATCH,
                            num_train=count, step_s=0.0, min_sample_s=min_sample_s)

    def sampler(cost_s):
        loops = calibrate_epochs(lambda: FitInput(x=known_cost.sleep_per_batch(count, cost_s)), settings)[0]
        return lambda: run_pipeline(FitInput(x=known_cost.sleep_per_batch(count, cost_s)), settings, loops)

    samples, _ = interleave({"0ms": sampler(0.0), "30ms": sampler(0.030), "45ms": sampler(0.045)},
                            rounds, seed)
    overhead_s = float(np.median([known_cost.BATCH / s["images_per_sec"] for s in samples["0ms"]]))
    true_ratio = (0.030 + overhead_s) / (0.045 + overhead_s)
    return compare_pairs(samples, [("45ms", "30ms", "pipeline")])[0], true_ratio


def run(args: argparse.Namespace, folder: Path) -> Finding:
    lines, found, runs = [], [], []
    for index in range(args.runs):
        run_dir = run_pipebench(folder / "runs", ["--preset", args.preset, "--variants", "tf_data_tuned",
                                                  "--pipeline", AA_PIPELINE, "--rounds", str(args.rounds),
                                                  "--no-overhead-check", *args.extra])
        runs.append(run_dir.name)
        for c in aa_comparisons(run_dir):
            found.append(c)
            lines.append(f"A/A run {index} {c.mode:10s} {c.text:22s} p={c.p_value:.3f} "
                         f"(Holm {c.p_adjusted:.3f}) {c.verdict}")
    claims = sum(c.verdict in ("faster", "slower") for c in found)
    widths = [c.high / c.low - 1 for c in found if c.low] or [0.0]
    lines.append(f"A/A: {len(found)} comparisons, false claims after Holm "
                 f"{fraction(claims, len(found))}; ratio interval width (high/low - 1): "
                 f"median {np.median(widths):.1%}, max {max(widths):.1%}")
    ab = []
    for repeat in range(args.ab_repeats):
        c, true = ab_repeat(args.ab_rounds, repeat, args.ab_sample_s)
        covers = c.low is not None and c.low <= true <= c.high
        ab.append({**c.to_dict(), "true_ratio": true, "covers": covers})
        lines.append(f"A/B repeat {repeat}: 45 ms vs 30 ms per batch {c.ratio:.4f}x "
                     f"({c.low:.4f}-{c.high:.4f}; true {true:.4f}) {c.verdict}, "
                     f"interval {'contains' if covers else 'misses'} the true ratio")
    hits = sum(a["verdict"] == "slower" and a["covers"] for a in ab)
    lines.append(f"A/B: {hits}/{len(ab)} called slower with an interval containing the true ratio")
    held = claims <= FALSE_CLAIMS_ALLOWED * len(found) and hits == len(ab)
    return Finding("aa", held, tuple(lines), {"runs": runs, "aa": [c.to_dict() for c in found],
                                              "aa_false_claims": claims, "ab": ab, "ab_hits": hits})
