"""How well two runs of the same preset agree: rank correlation and the recommended sets.

Reads two saved runs (`results.json` alone): each cell's median training rate in both,
the Spearman rank correlation of those medians (SciPy), each run's recommended set (the
report's rule) and their overlap. It states no known answer; docs/measurements.md has the
figures of two default runs back to back.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from scipy import stats

from bench.report import cell_summary, recommend
from bench.results.document import load_run
from bench.validate.common import Finding

TINY: list[str] = []  # the test gives it two saved runs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", type=Path, nargs=2, help="two results/<run-id> folders")


def recommended(run_dir: Path) -> tuple[dict[str, float], list[str]]:
    rows, analysis = cell_summary(load_run(run_dir))
    pick = recommend(rows, analysis)
    medians = {r["label"]: r["images_per_sec"] for r in rows if r["images_per_sec"]}
    return medians, [m["row"]["label"] for m in pick["members"]] if pick else []


def run(args: argparse.Namespace, folder: Path) -> Finding:
    (a, set_a), (b, set_b) = (recommended(p) for p in args.runs)
    common = sorted(set(a) & set(b), key=lambda k: -a[k])
    lines = [f"  {label:40s} {a[label]:9,.0f} {b[label]:9,.0f}" for label in common]
    rho = stats.spearmanr([a[k] for k in common], [b[k] for k in common]) if len(common) > 2 else None
    if rho is not None:
        lines.append(f"Spearman rank correlation of the medians ({len(common)} cells): "
                     f"{rho.statistic:.3f} (p = {rho.pvalue:.3g})")
    else:
        lines.append(f"{len(common)} cells in common: too few for a rank correlation (3 or more)")
    both = sorted(set(set_a) & set(set_b))
    lines += [f"recommended, first run:  {', '.join(set_a) or 'none'}",
              f"recommended, second run: {', '.join(set_b) or 'none'}",
              f"in both: {', '.join(both) or 'none'}"]
    return Finding("agreement", None, tuple(lines), {
        "medians": {"first": a, "second": b}, "spearman": None if rho is None else float(rho.statistic),
        "recommended": {"first": set_a, "second": set_b, "both": both}})
