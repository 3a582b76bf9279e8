"""The HTML report of one run, rendered from `results.json` alone.

One self-contained file: inline CSS, figures as inline SVG, no network access.
Jinja2 autoescaping escapes every string that comes from the user or the file
system (labels, paths, variant names, error messages).
"""

from __future__ import annotations

import math
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from bench.errors import PipebenchError
from bench.measure import intervals_overlap
from bench.report import figures
from bench.report.scaling import service_scaling
from bench.results import atomic_write_text, cell_metrics, load_run

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("bench.report", "."),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
)


BASELINES = ("image_data_generator", "generator")


def cell_summary(doc: dict, baseline: str | None = None) -> list[dict]:
    """One row per cell: each mode's median, the derived figures, and training's telemetry."""
    target = doc.get("target_accuracy")
    rows = []
    for cell in doc.get("cells", []):
        metrics = cell_metrics(cell, target)
        summaries = metrics["summaries"]
        train_runs = [r for r in cell.get("runs", []) if r["mode"] == "train" and r["status"] == "ok"]
        telemetry = [r.get("telemetry") or {} for r in train_runs]
        train = summaries.get("train")
        rows.append({
            "variant": cell["variant"], "options": " ".join(cell.get("options", [])),
            "backend": cell.get("backend", "tensorflow"),
            "precision": cell["precision"],
            "augmentation": cell["augmentation"], "status": cell["status"], "error": cell.get("error"),
            "label": figures.cell_label(cell),
            "trials": len(train_runs),
            "images_per_sec": train.median if train else None,
            "ci_low": train.ci_low if train else None, "ci_high": train.ci_high if train else None,
            "unstable": bool(train and train.unstable),
            **{f"{mode}_images_per_sec": summaries[mode].median if summaries.get(mode) else None
               for mode in ("pipeline", "model_only", "simulated")},
            "stall_percent": metrics["stall_percent"], "au_percent": metrics["au_percent"],
            "input_bound": metrics["input_bound"], "time_to_accuracy_s": metrics["time_to_accuracy_s"],
            "first_batch_s": median([r.get("first_batch_s") for r in train_runs]),
            "val_accuracy": median([r["epochs"][-1].get("val_accuracy") for r in train_runs if r["epochs"]]),
            "cpu_percent": median([t.get("cpu_percent") for t in telemetry]),
            "peak_rss_bytes": max((t["peak_rss_bytes"] for t in telemetry if t.get("peak_rss_bytes")),
                                  default=None),
            "gpu_util_percent": median([t.get("gpu_util_percent") for t in telemetry]),
            "note": cell.get("note") or next((r["note"] for r in train_runs if r.get("note")), None),
        })
    add_speedups(rows, baseline or doc.get("baseline"))
    return rows


def median(values) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.median(present)) if present else None


def add_speedups(rows: list[dict], baseline: str | None = None) -> None:
    """Speedup of each cell's training rate over `baseline`, else the first usual default present."""
    base = next((r for name in ([baseline] if baseline else BASELINES) for r in rows
                 if r["variant"] == name and r["precision"] == "float32"
                 and r["augmentation"] == "none" and r["images_per_sec"]), None)
    for row in rows:
        ok = base and row["images_per_sec"]
        row["speedup"] = row["images_per_sec"] / base["images_per_sec"] if ok else None
        row["baseline"] = base["variant"] if base else None


def render_report(run_dir: Path, baseline: str | None = None) -> Path:
    """Write `report.html` beside the run's results.json and return its path.

    `baseline` names the variant speedups are computed against (default: the run's
    own `--baseline`, else ImageDataGenerator, else the Python generator).
    """
    run_dir = Path(run_dir)
    doc = load_run(run_dir)
    rows = cell_summary(doc, baseline)
    if baseline and not any(r["variant"] == baseline for r in rows):
        raise PipebenchError(f"--baseline {baseline!r} is not in this run; valid: "
                             f"{', '.join(sorted({r['variant'] for r in rows}))}")
    scaling = service_scaling(rows)
    html = ENV.get_template("report.html.j2").render(
        doc=doc, rows=rows, pick=recommend(rows, doc["dataset"].get("num_val") or 0), fmt=format_number,
        scaling=scaling,
        figures={
            "throughput": figures.throughput_bars(pd.DataFrame(rows)) if rows else None,
            "modes": figures.modes_bars(rows),
            "stall_au": figures.stall_au_bars(rows),
            "accuracy": figures.accuracy_lines(doc),
            "telemetry": figures.telemetry_lines(doc),
            "scaling": figures.scaling_lines(scaling),
        },
    )
    path = run_dir / "report.html"
    atomic_write_text(path, html)
    return path


def recommend(rows: list[dict], num_val: int) -> dict | None:
    """The cell that reliably trains fastest among those that learn as well as the best.

    Eligible: validation accuracy within the noise of the best one (the 95%
    binomial half-width of the best accuracy on `num_val` images), so a faster
    pipeline that learns measurably worse is not recommended. Among those, the
    pick has the highest lower 95% bound of training images/s (the median where
    a cell has no interval): on a noisy machine the highest median is often one
    lucky trial. Cells whose intervals overlap the pick's are listed as tied.
    """
    ok = [r for r in rows if r["status"] == "ok" and r["images_per_sec"] and r["val_accuracy"] is not None]
    if not ok:
        return None
    best = max(r["val_accuracy"] for r in ok)
    noise = 1.96 * math.sqrt(best * (1 - best) / num_val) if num_val else 0.0
    eligible = [r for r in ok if r["val_accuracy"] >= best - noise]
    pick = max(eligible, key=lambda r: (_low(r), r["images_per_sec"]))
    tied = [r for r in eligible
            if r is not pick and intervals_overlap(_low(r), _high(r), _low(pick), _high(pick))]
    speedups = {r["variant"]: pick["images_per_sec"] / r["images_per_sec"] for r in ok
                if r["variant"] in BASELINES and r["precision"] == "float32" and r["augmentation"] == "none"}
    return {"row": pick, "best_accuracy": best, "noise": noise, "speedups": speedups,
            "tied": sorted(tied, key=lambda r: -r["images_per_sec"])}


def _low(row: dict) -> float:
    return row["ci_low"] if row.get("ci_low") is not None else row["images_per_sec"]


def _high(row: dict) -> float:
    return row["ci_high"] if row.get("ci_high") is not None else row["images_per_sec"]


def format_number(value, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return f"{value:,.{digits}f}"
