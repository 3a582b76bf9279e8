"""The HTML report of one run, rendered from `results.json` alone.

One self-contained file: inline CSS, figures as inline SVG, no network access.
Jinja2 autoescaping escapes every string that comes from the user or the file
system (labels, paths, variant names, error messages).
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pandas as pd

from bench.report.figures import throughput_bars
from bench.results import atomic_write_text, load_run, to_frame

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("bench.report", "."),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
)


def cell_summary(doc: dict) -> pd.DataFrame:
    """One row per cell: median images/s with CI, accuracy, first batch, status."""
    frame = to_frame(doc)
    if frame.empty:
        return frame
    grouped = frame.groupby(["variant", "precision", "augmentation"], sort=False)
    summary = grouped.agg(
        status=("status", lambda s: "ok" if (s == "ok").all() else s[s != "ok"].iloc[0]),
        images_per_sec=("images_per_sec_median", "first"),
        ci_low=("images_per_sec_ci_low", "first"),
        ci_high=("images_per_sec_ci_high", "first"),
        unstable=("unstable", "first"),
        trials=("trial", "count"),
        first_batch_s=("first_batch_s", "median"),
        build_s=("build_s", "median"),
        val_accuracy=("val_accuracy", "median"),
        error=("error", "first"),
        note=("note", "first"),
    ).reset_index()
    summary = summary.astype(object).where(summary.notna(), None)  # NaN -> None for the template
    summary["label"] = [
        " + ".join([v] + [x for x in (p, a) if x not in ("float32", "none")])
        for v, p, a in zip(summary["variant"], summary["precision"], summary["augmentation"], strict=True)
    ]
    return summary


def render_report(run_dir: Path) -> Path:
    """Write `report.html` beside the run's results.json and return its path."""
    run_dir = Path(run_dir)
    doc = load_run(run_dir)
    summary = cell_summary(doc)
    fastest = None
    if not summary.empty and (summary["status"] == "ok").any():
        fastest = summary.loc[summary[summary["status"] == "ok"]["images_per_sec"].idxmax()]
    html = ENV.get_template("report.html.j2").render(
        doc=doc,
        rows=summary.to_dict("records"),
        fastest=None if fastest is None else fastest.to_dict(),
        throughput_svg=throughput_bars(summary),
        fmt=format_number,
    )
    path = run_dir / "report.html"
    atomic_write_text(path, html)
    return path


def format_number(value, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return f"{value:,.{digits}f}"
