"""How well two runs of the same preset agree: rank correlation and the recommended sets.

    python tools/agreement.py RESULTS_A RESULTS_B

Prints each cell's median training rate in both runs, the Spearman rank correlation
of those medians (scipy), each run's recommended set (the report's rule) and their
overlap. Used for docs/measurements.md, "two default runs back to back".
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def recommended(run_dir: Path) -> tuple[dict[str, float], list[str]]:
    from bench.report import cell_summary, recommend
    from bench.results.document import load_run

    doc = load_run(run_dir)
    rows, analysis = cell_summary(doc)
    pick = recommend(rows, analysis)
    medians = {r["label"]: r["images_per_sec"] for r in rows if r["images_per_sec"]}
    return medians, [m["row"]["label"] for m in pick["members"]] if pick else []


def main(argv: list[str]) -> int:
    from scipy import stats

    (a, set_a), (b, set_b) = (recommended(Path(p)) for p in argv[:2])
    common = sorted(set(a) & set(b), key=lambda k: -a[k])
    for label in common:
        print(f"  {label:40s} {a[label]:9,.0f} {b[label]:9,.0f}")
    rho = stats.spearmanr([a[k] for k in common], [b[k] for k in common])
    print(f"Spearman rank correlation of the training medians ({len(common)} cells): "
          f"{rho.statistic:.3f} (p = {rho.pvalue:.3g})")
    print(f"recommended, first run:  {', '.join(set_a)}")
    print(f"recommended, second run: {', '.join(set_b)}")
    print(f"in both: {', '.join(sorted(set(set_a) & set(set_b))) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
