"""The method against known answers: A/A runs (no difference) and an A/B pair (a stated ratio).

    python tools/aa_check.py [--runs 10] [--rounds 9] [--ab-repeats 5] [-- extra run arguments]

A/A: each run measures `tf_data_tuned` beside `bench.run.known_cost:same_as_tf_data_tuned`
(exactly its dataset under another name) on the default preset's data, in
interleaved rounds, and compares the two cells paired by round in every mode
(pipeline, train, model_only, simulated), Holm-corrected across the run's four
comparisons, as a report does. Any "faster" or "slower" is a false claim. Prints
each comparison, the false-claim rate (Holm and unadjusted) and the widths of the
ratio intervals.

A/B: two pipelines whose batches cost 30 and 45 ms of sleep, and the same pipeline at
0 ms, measured in interleaved rounds with the tuning tools' machinery (`bench.tune.rounds`).
Each batch also costs what reading it costs (a `tf.py_function` call, the loop), o, the
0 ms pipeline's time per batch; so the true rate ratio is (30 ms + o) / (45 ms + o)
(2/3 if o were 0). Each repeat must call the slower one slower, with a ratio interval
containing the true ratio.
Not a test: it measures this machine, for docs/cost.md.
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

MODES = ("pipeline", "train", "model_only", "simulated")
AA_PIPELINE = "bench.run.known_cost:same_as_tf_data_tuned"


def run_into(results: Path, arguments: list[str]) -> Path:
    """`pipebench run ARGUMENTS --results-dir RESULTS`, quietly; the run's new folder."""
    before = set(results.glob("*")) if results.exists() else set()
    command = [sys.executable, "-m", "bench", "run", *arguments, "--results-dir", str(results)]
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return next(iter(set(results.glob("*")) - before))


def aa_run(results: Path, rounds: int, extra: list[str]) -> Path:
    """One pipebench run of the A/A pair; its folder."""
    return run_into(results, ["--preset", "default", "--variants", "tf_data_tuned", "--pipeline", AA_PIPELINE,
                              "--rounds", str(rounds), "--no-overhead-check", *extra])


def aa_comparisons(run_dir: Path) -> list:
    """The two cells compared in every mode, paired by round, Holm across the four."""
    from bench.results.document import load_run
    from bench.results.records import CellResult
    from bench.stats import finish_comparisons, paired

    cells = {c["variant"]: CellResult.from_dict(c) for c in load_run(run_dir)["cells"]}
    a, b = cells["tf_data_tuned"], cells[f"custom:{AA_PIPELINE}"]
    return finish_comparisons([paired("custom", "tf_data_tuned", mode, b.by_round(mode), a.by_round(mode))
                               for mode in MODES])


def ab_repeat(rounds: int, seed: int, min_sample_s: float):
    """30 vs 45 ms per batch, in interleaved rounds: the paired comparison of the slower one."""
    from bench.run import known_cost
    from bench.run.modes import ModeSettings, calibrate_epochs, run_pipeline
    from bench.tune.rounds import compare_pairs, interleave
    from pipelines.base import FitInput

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=9, help="rounds per A/A run")
    parser.add_argument("--ab-repeats", type=int, default=5)
    parser.add_argument("--ab-rounds", type=int, default=9)
    parser.add_argument("--results-dir", type=Path, default=ROOT / "results" / "aa-check")
    parser.add_argument("extra", nargs="*", help="more `pipebench run` arguments (after --)")
    args = parser.parse_args()
    started = time.time()
    found = []
    args.results_dir.mkdir(parents=True, exist_ok=True)
    for run in range(args.runs):
        run_dir = aa_run(args.results_dir, args.rounds, args.extra)
        for c in aa_comparisons(run_dir):
            found.append(c)
            print(f"A/A run {run} {c.mode:10s} {c.text:22s} p={c.p_value:.3f} (Holm {c.p_adjusted:.3f}) "
                  f"{c.verdict}   [{run_dir.name}]", flush=True)
    claims = sum(c.verdict in ("faster", "slower") for c in found)
    raw = sum(c.p_value is not None and c.p_value < 0.05 for c in found)
    widths = [c.high / c.low - 1 for c in found if c.low] or [0.0]
    total = max(len(found), 1)
    print(f"\nA/A: {len(found)} comparisons, {claims} false claims after Holm ({claims / total:.1%}), "
          f"{raw} with unadjusted p < 0.05 ({raw / total:.1%}); ratio interval width (high/low - 1): "
          f"median {np.median(widths):.1%}, max {max(widths):.1%}")
    for mode in MODES:
        of_mode = [c.high / c.low - 1 for c in found if c.mode == mode and c.low] or [0.0]
        print(f"  {mode:10s} median interval width {np.median(of_mode):.1%}")
    hits = 0
    for repeat in range(args.ab_repeats):
        c, true = ab_repeat(args.ab_rounds, repeat, 1.0)
        covers = c.low <= true <= c.high
        hits += c.verdict == "slower" and covers
        print(f"A/B repeat {repeat}: 45 ms vs 30 ms per batch {c.ratio:.4f}x ({c.low:.4f}-{c.high:.4f}; "
              f"true {true:.4f}, 2/3 without the reading cost) {c.verdict}, "
              f"interval {'contains' if covers else 'misses'} the true ratio", flush=True)
    print(f"A/B: {hits}/{args.ab_repeats} called slower with an interval containing the true ratio")
    summary = {"aa": [c.to_dict() for c in found], "aa_false_claims": claims, "aa_raw_p_below_005": raw,
               "ab_hits": hits, "ab_repeats": args.ab_repeats, "seconds": time.time() - started}
    (args.results_dir / "aa_check.json").write_text(json.dumps(summary, indent=1))
    print(f"took {time.time() - started:.0f} s; saved {args.results_dir / 'aa_check.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
