"""CPU cost comparisons against known answers: A/A (no difference) and A/B (a stated extra cost).

    python tools/cost_check.py [--runs 6] [--trials 9] [--load] [-- extra run arguments]

Each run is a real `pipebench run` in pipeline mode, `--baseline tf_data_naive`, holding
seven exact copies of `tf_data_naive` given as `--pipeline` (`bench.run.known_cost:naive_copy_N`)
and `naive_plus_cpu`, the same pipeline with `EXTRA_CPU_US` of CPU work per image after its
decode. The report's cost family compares each with the baseline per round (paired, Holm
across the eight). Every "costs more/less" of a copy is a false claim; the A/B cell must
be called costlier every time, with a ratio interval containing the ratio the extra work
implies: 1 + (its own cost, measured apart) / the baseline's median cost.

`--load` runs a CPU-bound process (one busy core) beside every run. Not a test: it measures
this machine, for the README; the summary goes to `cost_check.json` in the results folder.
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


def one_run(results: Path, trials: int, extra: list[str]) -> Path:
    """One pipebench run of the baseline, its copies and the costlier one; its folder."""
    before = set(results.glob("*")) if results.exists() else set()
    pipelines = [f"{KNOWN}:naive_copy_{k}" for k in range(1, COPIES + 1)] + [f"{KNOWN}:naive_plus_cpu"]
    command = [sys.executable, "-m", "bench", "run", "--preset", "default", "--variants", "tf_data_naive",
               *[arg for p in pipelines for arg in ("--pipeline", p)], "--baseline", "tf_data_naive",
               "--modes", "pipeline", "--trials", str(trials), "--no-overhead-check",
               "--results-dir", str(results), *extra]
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return next(iter(set(results.glob("*")) - before))


def cost_comparisons(run_dir: Path) -> tuple[list, list, float]:
    """The run's A/A comparisons, its A/B comparison, and the baseline's median CPU µs per image."""
    from bench.results.store import analyse, load_run

    analysis = analyse(load_run(run_dir))
    found = {c.cell.variant: c for c in analysis.cells}
    copies = [found[f"custom:{KNOWN}:naive_copy_{k}"].vs_baseline_cpu for k in range(1, COPIES + 1)]
    costlier = found[f"custom:{KNOWN}:naive_plus_cpu"].vs_baseline_cpu
    return copies, [costlier], analysis.baseline.cpu["pipeline"].median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--trials", type=int, default=9, help="rounds per run (the fewest for Holm over 8)")
    parser.add_argument("--load", action="store_true", help="a CPU-bound process beside every run")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "results" / "cost-check")
    parser.add_argument("extra", nargs="*", help="more `pipebench run` arguments (after --)")
    args = parser.parse_args()
    from bench.run.known_cost import EXTRA_CPU_US, extra_cpu_us_per_image

    started = time.time()
    extra_us = extra_cpu_us_per_image()
    print(f"the extra work, measured apart: {extra_us:.1f} CPU us per image (stated {EXTRA_CPU_US:g})")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    hog = subprocess.Popen([sys.executable, "-c", HOG]) if args.load else None
    aa, ab = [], []
    try:
        for run in range(args.runs):
            run_dir = one_run(args.results_dir, args.trials, args.extra)
            copies, costlier, base_us = cost_comparisons(run_dir)
            implied = 1.0 + extra_us / base_us
            for c in copies:
                aa.append(c)
                print(f"A/A run {run}: {c.text:22s} p={c.p_value:.3f} (Holm {c.p_adjusted:.3f}) {c.verdict}")
            for c in costlier:
                covers = c.low is not None and c.low <= implied <= c.high
                ab.append({**c.to_dict(), "implied": implied, "covers": covers})
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
    summary = {"load": args.load, "extra_cpu_us_measured": extra_us, "aa": [c.to_dict() for c in aa],
               "aa_false_claims": claims, "aa_within_5_percent": within, "ab": ab, "ab_hits": hits,
               "seconds": time.time() - started, "finished": time.strftime("%Y-%m-%d %H:%M")}
    name = "cost_check_load.json" if args.load else "cost_check.json"
    (args.results_dir / name).write_text(json.dumps(summary, indent=1))
    print(f"took {time.time() - started:.0f} s; saved {args.results_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
