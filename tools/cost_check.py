"""CPU cost comparisons against known answers: A/A (no difference) and A/B (a stated extra cost).

    python tools/cost_check.py [--runs 6] [--rounds 9] [--load] [-- extra run arguments]

Each run is a real `pipebench run` in pipeline mode, `--baseline tf_data_naive`, holding
seven exact copies of `tf_data_naive` given as `--pipeline` (`bench.run.known_cost:naive_copy_N`)
and `naive_plus_cpu`, the same pipeline with `EXTRA_MATMULS` 32x32 matrix products per image
after its decode (TensorFlow ops, no Python: a first version spun 250 µs in `tf.py_function`,
whose own cost, about 420 µs a call apart and 310 µs inside the pipeline, depended on the
GIL hand-offs around it). The report's cost family compares each with the baseline per round (paired, Holm
across the eight). Every "costs more/less" of a copy is a false claim; the A/B cell must
be called costlier every time, with a ratio interval containing the ratio measured apart from
the harness: both pipelines on the same data, read in turn in this process with a plain loop
and `time.process_time` (`apart_ratio`). The extra work's own cost on tiny elements is printed
too, with the ratio it would imply (1 + it / the baseline's cost), which overstated the ratio
in every run so far (docs/cost.md).

`--load` runs a CPU-bound process (one busy core) beside every run. Not a test: it measures
this machine, for docs/cost.md; the summary goes to `cost_check.json` in the results folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

COPIES = 7
KNOWN = "bench.run.known_cost"
HOG = "while True: pass"


def one_run(results: Path, rounds: int, extra: list[str]) -> Path:
    """One pipebench run of the baseline, its copies and the costlier one; its folder."""
    from tools.aa_check import run_into

    pipelines = [f"{KNOWN}:naive_copy_{k}" for k in range(1, COPIES + 1)] + [f"{KNOWN}:naive_plus_cpu"]
    given = [arg for p in pipelines for arg in ("--pipeline", p)]
    return run_into(results, ["--preset", "default", "--variants", "tf_data_naive", *given,
                              "--baseline", "tf_data_naive", "--modes", "pipeline", "--rounds", str(rounds),
                              "--no-overhead-check", *extra])


def cost_comparisons(run_dir: Path) -> tuple[list, list, float]:
    """The run's A/A comparisons, its A/B comparison, and the baseline's median CPU µs per image."""
    from bench.results.analysis import analyse
    from bench.results.document import load_run

    analysis = analyse(load_run(run_dir))
    found = {c.cell.variant: c for c in analysis.cells}
    copies = [found[f"custom:{KNOWN}:naive_copy_{k}"].vs_baseline_cpu for k in range(1, COPIES + 1)]
    costlier = found[f"custom:{KNOWN}:naive_plus_cpu"].vs_baseline_cpu
    return copies, [costlier], analysis.baseline.cpu["pipeline"].median


def apart_ratio(repeats: int = 9) -> float:
    """The ratio of the two pipelines' CPU µs per image measured apart from the harness: in this
    process, on the default preset's data, one epoch of each in turn (after a warm one), read with
    a plain loop and `time.process_time`; the median of the paired ratios."""
    from dataclasses import replace

    from bench.config import get_preset
    from bench.data.dataset import resolve_spec
    from bench.run import known_cost
    from pipelines.base import PipelineRequest

    spec = resolve_spec(None, None, 0.2, get_preset("default").dataset(0), seed=0)[0]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=9, help="rounds per run (the fewest for Holm over 8)")
    parser.add_argument("--load", action="store_true", help="a CPU-bound process beside every run")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "results" / "cost-check")
    parser.add_argument("extra", nargs="*", help="more `pipebench run` arguments (after --)")
    args = parser.parse_args()
    from bench.run.known_cost import EXTRA_MATMULS, extra_cpu_us_per_image

    started = time.time()
    extra_us = extra_cpu_us_per_image()
    print(f"the extra work ({EXTRA_MATMULS} 32x32 matmuls), measured apart: {extra_us:.1f} CPU us per image")
    implied_apart = apart_ratio()
    print(f"the A/B cost ratio measured apart (in-process, plain loop): {implied_apart:.3f}")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    hog = subprocess.Popen([sys.executable, "-c", HOG]) if args.load else None
    aa, ab = [], []
    try:
        for run in range(args.runs):
            run_dir = one_run(args.results_dir, args.rounds, args.extra)
            copies, costlier, base_us = cost_comparisons(run_dir)
            implied = implied_apart
            for c in copies:
                aa.append(c)
                print(f"A/A run {run}: {c.text:22s} p={c.p_value:.3f} (Holm {c.p_adjusted:.3f}) {c.verdict}")
            for c in costlier:
                covers = c.low is not None and c.low <= implied <= c.high
                ab.append({**c.to_dict(), "implied": implied, "covers": covers,
                           "implied_from_extra_alone": 1.0 + extra_us / base_us})
                print(f"A/B run {run}: {c.text} {c.verdict}; implied {implied:.3f} "
                      f"({'inside' if covers else 'outside'} the interval)   [{run_dir.name}]", flush=True)
    finally:
        if hog is not None:
            hog.kill()
    claims = sum(c.verdict in ("costs more", "costs less") for c in aa)
    within = sum(c.low is not None and c.low >= 0.95 and c.high <= 1.05 for c in aa)
    spread = [max(1 - c.low, c.high - 1) for c in aa if c.low is not None] or [0.0]
    hits = sum(a["verdict"] == "costs more" and a["covers"] for a in ab)
    print(f"\nA/A: {len(aa)} comparisons, {claims} false claims ({claims / max(len(aa), 1):.1%}); "
          f"{within} with the ratio interval within +-5% (farthest end: median {np.median(spread):.1%}, "
          f"max {max(spread):.1%})")
    print(f"A/B: {hits}/{len(ab)} called costlier with an interval containing the implied ratio")
    summary = {"load": args.load, "extra_matmuls": EXTRA_MATMULS, "extra_cpu_us_measured": extra_us,
               "implied_ratio_apart": implied_apart, "aa": [c.to_dict() for c in aa],
               "aa_false_claims": claims, "aa_within_5_percent": within, "ab": ab, "ab_hits": hits,
               "seconds": time.time() - started, "finished": time.strftime("%Y-%m-%d %H:%M")}
    name = "cost_check_load.json" if args.load else "cost_check.json"
    (args.results_dir / name).write_text(json.dumps(summary, indent=1))
    print(f"took {time.time() - started:.0f} s; saved {args.results_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
