"""A saved run as a markdown table (the README's "A real run"), from its results.json alone.

`pipebench report RUN --markdown` prints it. One row per cell, in the recommendation's
order: the deciding mode's median with its interval and coverage, the ratio to the
baseline and to the fastest (with the paired test's verdict), pipeline and model-only
rates, stall and AU with intervals, the CPU µs per image with its interval and its paired
ratio to the baseline's (with the cost test's verdict), the build time (in-memory variants
decode up front there), storage per epoch, accuracy and loss against their bands, and
time to accuracy; ★ marks the recommended set, ⚠ an interval too wide to rank by.
"""

from __future__ import annotations

from pathlib import Path

from bench.report import cell_summary, recommend
from bench.results.document import load_run


def fmt(value, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def interval(summary, digits: int = 0) -> str:
    if summary is None or summary.low is None:
        return "–"
    return f"{fmt(summary.low, digits)}…{fmt(summary.high, digits)}"


def cost_cells(s, analysis) -> list[str]:
    """CPU µs per image in the deciding mode with its interval, and the paired cost ratio to the baseline."""
    cost = s.cpu.get(analysis.mode)
    versus = s.vs_baseline_cpu
    ratio = "baseline" if s is analysis.baseline else (f"{versus.text} {versus.verdict}" if versus else "–")
    return [f"{fmt(cost.median if cost else None)} ({interval(cost)})", ratio]


def row(r: dict, members: set[str], analysis) -> str:
    s = r["stats"]
    main = s.modes.get(analysis.mode)
    star = " ★" if r["label"] in members else ""
    warn = " ⚠" if main and main.unstable else ""
    rate = (f"{fmt(main.median)} ({fmt(main.low)}–{fmt(main.high)}, {main.coverage:.0%}){warn}"
            if main and main.low is not None else fmt(main.median if main else None))
    versus = s.vs_fastest
    fastest = "fastest" if s is analysis.fastest else (f"{versus.text} {versus.verdict}" if versus else "–")
    base = "1.00 (baseline)" if s is analysis.baseline else (s.vs_baseline.text if s.vs_baseline else "–")
    pipeline, model = s.modes.get("pipeline"), s.modes.get("model_only")
    storage = (s.storage or {}).get("storage_read_bytes_per_epoch")
    accuracy = "–" if s.val_accuracy is None else f"{s.val_accuracy:.3f}" + (
        f" ({s.vs_band})" if s.vs_band and s.vs_band != "inside" else "")
    loss = "–" if s.val_loss is None else f"{s.val_loss:.3f}" + (
        f" ({s.loss_vs_band})" if s.loss_vs_band and s.loss_vs_band != "inside" else "")
    cells = [f"`{r['label']}`{star}", rate, base, fastest, fmt(pipeline.median if pipeline else None),
             fmt(model.median if model else None),
             f"{fmt(s.stall.median if s.stall else None, 1)} ({interval(s.stall, 1)})",
             f"{fmt(s.au.median if s.au else None, 1)} ({interval(s.au, 1)})",
             *cost_cells(s, analysis),
             fmt(s.build_s, 2), fmt(storage / 2**20 if storage is not None else None, 2), accuracy, loss,
             fmt(s.time_to_accuracy_s, 2)]
    return "| " + " | ".join(cells) + " |"


def markdown_table(run_dir: Path) -> str:
    """The run's cells as a markdown table, then its accuracy and loss bands."""
    rows, analysis = cell_summary(load_run(run_dir))
    pick = recommend(rows, analysis)
    members = {m["row"]["label"] for m in pick["members"]} if pick else set()
    base = analysis.baseline.cell.label if analysis.baseline else "baseline"
    lines = [f"| variant | {analysis.mode} images/s (interval, coverage) | vs {base} "
             "| vs fastest (paired test) | pipeline | model-only | stall % (interval) | AU % (interval) "
             "| CPU µs / image (interval) "
             f"| cost vs {base} (paired test) | build (s) | storage MiB/epoch "
             "| val. acc. | val. loss | time to acc. (s) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    order = sorted(rows, key=lambda r: (r["label"] not in members, -(r["images_per_sec"] or 0)))
    lines += [row(r, members, analysis) for r in order]
    if analysis.band:
        losses = (f"; loss band {analysis.loss_band.low:.3f}–{analysis.loss_band.high:.3f}"
                  if analysis.loss_band else "")
        lines.append(f"\naccuracy band {analysis.band.low:.3f}–{analysis.band.high:.3f}{losses}")
    return "\n".join(lines)
