"""CPU-cost comparisons against known answers: A/A (no difference) and A/B (a stated extra cost).

Each run is a real `pipebench run` in pipeline mode, `--baseline tf_data_naive`, holding
`--copies` exact copies of `tf_data_naive` given as `--pipeline`
(`bench.run.known_cost:naive_copy_N`) and `naive_plus_cpu`: the same pipeline with
`EXTRA_MATMULS` 32x32 matrix products per image after its decode (TensorFlow ops, no
Python, whose GIL hand-offs would cost more than they do). The report's cost family
compares each with the baseline per round (paired, Holm across the run). A copy called
"costs more" or "costs less" is a false claim; `naive_plus_cpu` must be called "costs
more" with an interval that holds the ratio measured apart (in this process, a plain
loop under `time.process_time`). It holds when at most 5% of the A/A claims are false
and every A/B run finds the extra cost. `--load` runs a CPU-bound process beside every run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.config import get_preset
from bench.data.dataset import resolve_spec
from bench.errors import PipebenchError
from bench.results.analysis import analyse
from bench.results.document import load_run
from bench.run import known_cost
from bench.validate.common import Finding, fraction, run_pipebench
from pipelines.base import PipelineRequest

KNOWN = "bench.run.known_cost"
HOG = "while True: pass"
FALSE_CLAIMS_ALLOWED = 0.05
TINY = ["--runs", "1", "--rounds", "2", "--copies", "1", "--apart-repeats", "1", "--",
        "--num-train", "48", "--num-val", "24", "--image-size", "32", "--source-size", "36,56",
        "--num-classes", "3", "--min-sample-s", "0.05"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=9, help="rounds per run (the fewest for Holm over 8)")
    parser.add_argument("--copies", type=int, default=7, help="exact copies of the baseline per run (1-8)")
    parser.add_argument("--apart-repeats", type=int, default=9,
                        help="paired epochs for the ratio measured apart")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--load", action="store_true", help="a CPU-bound process beside every run")
    parser.add_argument("extra", nargs="*", help="after --: more `pipebench run` arguments")


def one_run(results: Path, args: argparse.Namespace) -> Path:
    pipelines = [f"{KNOWN}:naive_copy_{k}" for k in range(1, args.copies + 1)] + [f"{KNOWN}:naive_plus_cpu"]
    given = [arg for p in pipelines for arg in ("--pipeline", p)]
    return run_pipebench(results, ["--preset", args.preset, "--variants", "tf_data_naive", *given,
                                   "--baseline", "tf_data_naive", "--modes", "pipeline", "--rounds",
                                   str(args.rounds), "--no-overhead-check", *args.extra])


def cost_comparisons(run_dir: Path, copies: int) -> tuple[list, object]:
    """The run's A/A cost comparisons and its A/B one."""
    found = {c.cell.variant: c for c in analyse(load_run(run_dir)).cells}
    return ([found[f"custom:{KNOWN}:naive_copy_{k}"].vs_baseline_cpu for k in range(1, copies + 1)],
            found[f"custom:{KNOWN}:naive_plus_cpu"].vs_baseline_cpu)


def apart_ratio(preset: str, repeats: int) -> float:
    """The two pipelines' CPU µs per image measured apart from the harness: one epoch of each in
    turn (after a warm one), a plain loop under `time.process_time`; the median paired ratio."""
    spec = resolve_spec(None, None, 0.2, get_preset(preset).dataset(0), seed=0)[0]
    request = PipelineRequest(spec=spec, batch_size=32, seed=0, augmentation="none", options={},
                              cache_dir=Path("/tmp"))

    def cost(build) -> float:
        built = build(replace(request))
        dataset = built.x if hasattr(built, "x") else built  # a FitInput, or the dataset itself
        started = time.process_time()
        images = sum(int(y.shape[0]) for _, y in dataset)
        return (time.process_time() - started) / images

    pair = (known_cost.naive_plus_cpu, known_cost.same_as_tf_data_naive)
    cost(pair[0]), cost(pair[1])  # warm
    return float(np.median([cost(pair[0]) / cost(pair[1]) for _ in range(repeats)]))


def run(args: argparse.Namespace, folder: Path) -> Finding:
    if not 1 <= args.copies <= 8:
        raise PipebenchError(f"--copies {args.copies} is out of range; valid: 1-8")
    extra_us = known_cost.extra_cpu_us_per_image()
    implied = apart_ratio(args.preset, args.apart_repeats)
    lines = [f"the extra work ({known_cost.EXTRA_MATMULS} 32x32 matmuls), measured apart: "
             f"{extra_us:.1f} CPU µs per image; the A/B cost ratio measured apart: {implied:.3f}"]
    hog = subprocess.Popen([sys.executable, "-c", HOG]) if args.load else None
    aa, ab, runs = [], [], []
    try:
        for index in range(args.runs):
            run_dir = one_run(folder / "runs", args)
            runs.append(run_dir.name)
            copies, costlier = cost_comparisons(run_dir, args.copies)
            aa.extend(copies)
            lines += [f"A/A run {index}: {c.text:22s} p={c.p_value:.3f} (Holm {c.p_adjusted:.3f}) {c.verdict}"
                      for c in copies]
            covers = costlier.low is not None and costlier.low <= implied <= costlier.high
            ab.append({**costlier.to_dict(), "implied": implied, "covers": covers})
            lines.append(f"A/B run {index}: {costlier.text} {costlier.verdict}; implied {implied:.3f} "
                         f"({'inside' if covers else 'outside'} the interval)")
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    claims = sum(c.verdict in ("costs more", "costs less") for c in aa)
    within = sum(c.low is not None and c.low >= 0.95 and c.high <= 1.05 for c in aa)
    hits = sum(a["verdict"] == "costs more" and a["covers"] for a in ab)
    lines += [f"A/A: {len(aa)} comparisons, false claims {fraction(claims, len(aa))}; "
              f"ratio interval within ±5%: {fraction(within, len(aa))}",
              f"A/B: {hits}/{len(ab)} called costlier with an interval containing the implied ratio"]
    held = claims <= FALSE_CLAIMS_ALLOWED * len(aa) and hits == len(ab)
    return Finding("cost", held, tuple(lines), {
        "load": args.load, "extra_matmuls": known_cost.EXTRA_MATMULS, "extra_cpu_us_measured": extra_us,
        "implied_ratio_apart": implied, "runs": runs, "aa": [c.to_dict() for c in aa],
        "aa_false_claims": claims, "aa_within_5_percent": within, "ab": ab, "ab_hits": hits})
