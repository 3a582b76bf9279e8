"""The HTML report of one run, rendered from `results.json` alone.

One self-contained file: inline CSS, figures as inline SVG, no network access.
Jinja2 autoescaping escapes every string that comes from the user or the file
system (labels, paths, variant names, error messages).
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pandas as pd

from bench.config import Cell, band_cell
from bench.errors import PipebenchError
from bench.report import figures
from bench.report.scaling import service_scaling
from bench.results.analysis import Analysis, CellStats, analyse
from bench.results.document import load_run
from bench.stats import TOO_FEW, min_rounds_for
from pipelines.files import atomic_write_text

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("bench.report", "."),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
)


MODE_LABELS = {"train": "train", "simulated": "simulated", "pipeline": "pipeline"}


def basis(analysis: Analysis, doc: dict) -> str:
    """What the recommendation rests on, in words."""
    if analysis.mode == "train":
        return "end-to-end training"
    rate = doc["config"]["batch_size"] / doc["config"]["step_s"]
    if analysis.mode == "simulated":
        return (f"the simulated accelerator at {rate:,.0f} images/s (how fast each pipeline fed it) "
                "and, beside it, the pipeline alone")
    return "the pipeline alone, with no model"


def cell_row(stats_: CellStats, mode: str = "train") -> dict:
    """One table row of the report, read from the cell's typed statistics; its rate is `mode`'s,
    the mode the run's recommendation rests on."""
    cell, result, train, versus = stats_.cell, stats_.result, stats_.modes.get(mode), stats_.vs_baseline
    stall, au = stats_.stall, stats_.au
    medians = {f"{mode}_images_per_sec": s.median if s else None for mode, s in stats_.modes.items()}
    return {
        "variant": cell.variant, "options": " ".join(cell.options), "backend": cell.backend,
        "precision": cell.precision, "augmentation": cell.augmentation, "status": result.status,
        "error": result.error, "label": cell.label, "key": cell.key, "stats": stats_,
        "rounds": train.n if train else 0,
        "images_per_sec": train.median if train else None,
        "ci_low": train.low if train else None, "ci_high": train.high if train else None,
        "coverage": train.coverage if train else None, "unstable": bool(train and train.unstable),
        **{f"{mode}_images_per_sec": None for mode in ("pipeline", "model_only", "simulated")}, **medians,
        "stall_percent": stall.median if stall else None, "stall_low": stall.low if stall else None,
        "stall_high": stall.high if stall else None,
        "au_percent": au.median if au else None, "au_low": au.low if au else None,
        "au_high": au.high if au else None,
        "input_bound": stats_.input_bound, "time_to_accuracy_s": stats_.time_to_accuracy_s,
        "first_batch_s": stats_.first_batch_s, "val_accuracy": stats_.val_accuracy,
        "vs_band": stats_.vs_band, "epochs_to_target": stats_.epochs_to_target,
        "val_loss": stats_.val_loss, "loss_vs_band": stats_.loss_vs_band, "learns_less": stats_.learns_less,
        "timed_epoch_s": stats_.timed_epoch_s,
        "cpu_percent": stats_.cpu_percent, "peak_rss_bytes": stats_.peak_rss_bytes,
        "gpu_util_percent": stats_.gpu_util_percent, "short_samples": stats_.short_samples,
        "speedup": versus.ratio if versus else None, "speedup_text": versus.text if versus else None,
        "vs_fastest": stats_.vs_fastest, "data": result.equivalence, "data_differs": result.data_differs,
        "build_s": stats_.build_s, "storage": stats_.storage,
        # what a user waits for before training starts: the build (an in-memory variant's up-front
        # decode of every file) and the first batch after it
        "ready_s": None if stats_.first_batch_s is None else (stats_.build_s or 0.0) + stats_.first_batch_s,
        "note": result.note or next((r.note for r in result.runs_of("train") if r.note), None),
    }


def cell_summary(doc: dict, baseline: str | None = None) -> tuple[list[dict], Analysis]:
    """One row per cell, and the analysis the rows come from."""
    analysis = analyse(doc, baseline)
    rows = [cell_row(c, analysis.mode) for c in analysis.cells]
    base = analysis.baseline
    for row in rows:
        row["baseline"] = base.cell.label if base else None
        row["is_baseline"] = row["stats"] is base
    return rows, analysis


def render_report(run_dir: Path, baseline: str | None = None) -> Path:
    """Write `report.html` beside the run's results.json and return its path.

    `baseline` names the variant speedups are computed against (default: the run's
    own `--baseline`, else ImageDataGenerator, else the Python generator).
    """
    run_dir = Path(run_dir)
    doc = load_run(run_dir)
    rows, analysis = cell_summary(doc, baseline)
    if baseline and not any(r["variant"] == baseline for r in rows):
        raise PipebenchError(f"--baseline {baseline!r} is not in this run; valid: "
                             f"{', '.join(sorted({r['variant'] for r in rows}))}")
    scaling = service_scaling(rows)
    html = ENV.get_template("report.html.j2").render(
        doc=doc, rows=rows, pick=recommend(rows, analysis), fmt=format_number,
        scaling=scaling, test=analysis.test, overheads=doc.get("telemetry_overhead") or [],
        band=analysis.band, loss_band=analysis.loss_band, band_cell=band_label(doc),
        augmented_bands=analysis.augmented_bands,
        fitted=any(c.result.accuracy_fits for c in analysis.cells),
        mode=MODE_LABELS.get(analysis.mode, analysis.mode), mode_key=analysis.mode,
        basis=basis(analysis, doc),
        figures={
            "throughput": figures.throughput_bars(pd.DataFrame(rows)) if rows else None,
            "modes": figures.modes_bars(rows),
            "stall_au": figures.stall_au_bars(rows),
            "accuracy": figures.accuracy_lines(rows, doc.get("target_accuracy"), analysis.band),
            "telemetry": figures.telemetry_lines(doc),
            "scaling": figures.scaling_lines(scaling),
            "capacity": figures.capacity_lines([c.capacity for c in analysis.cells if c.capacity],
                                               analysis.target_rate),
        },
        costs=cost_rows(analysis), predictions=analysis.predictions, target_rate=analysis.target_rate,
    )
    path = run_dir / "report.html"
    atomic_write_text(path, html)
    return path


def cost_rows(analysis: Analysis) -> list[dict]:
    """The cost table: per cell, CPU µs per image in the deciding mode (with its interval), the
    pipeline's own cost in training, the cost comparison with the baseline, and what it needs."""
    rows = []
    for c in analysis.cells:
        cost, capacity = c.cpu.get(analysis.mode), c.capacity
        if cost is None and capacity is None:
            continue
        rows.append({"label": c.cell.label, "cost": cost, "pipeline_cpu": c.pipeline_cpu,
                     "pipeline_mode": c.cpu.get("pipeline"), "versus": c.vs_baseline_cpu,
                     "is_baseline": c is analysis.baseline,
                     "cores_used": c.cores_used.get("pipeline"), "capacity": capacity,
                     "cores_needed": c.cores_needed, "predicted": c.predicted_images_per_sec,
                     "service_workers": c.service_workers_needed,
                     "measured": capacity.images_per_sec if capacity else None})
    return rows


def band_label(doc: dict) -> str | None:
    """The label of the cell whose seeds make the accuracy band."""
    chosen = band_cell([Cell.of(c) for c in doc.get("cells", [])])
    return chosen.label if chosen else None


def recommend(rows: list[dict], analysis: Analysis) -> dict | None:
    """The set of cells to choose from: as accurate as the best, and not significantly slower
    than the fastest of them.

    Eligible: validation accuracy not below the accuracy band and loss not above the loss band
    (without bands, within the 95% binomial half-width of the best accuracy), so a faster
    pipeline that learns measurably worse is not recommended. Every cell is compared with the
    fastest eligible cell (highest median training rate), paired by round
    (`bench.results.analysis.analyse`: the report's one family of tests, Holm-corrected); the
    set is the fastest plus the eligible cells the test cannot call slower, each with its
    ratio to the fastest and interval. What separates them (AU, memory, first batch) is for
    the reader to weigh.
    """
    if analysis.fastest is None:
        return None
    by_cell = {id(r["stats"]): r for r in rows}
    fastest = by_cell[id(analysis.fastest)]
    pairs = [{"row": by_cell[id(c)], "comparison": c.vs_fastest} for c in analysis.accurate
             if c is not analysis.fastest and c.vs_fastest is not None]
    tied = [p for p in pairs if p["comparison"].verdict != "slower"]
    members = sorted([{"row": fastest, "comparison": None}, *tied], key=lambda m: -m["row"]["images_per_sec"])
    untestable = [p for p in pairs if p["comparison"].verdict == TOO_FEW]
    family = sum(1 for c in analysis.cells if c.vs_fastest is not None)
    accurate = {id(c) for c in analysis.accurate}
    return {"fastest": fastest, "members": members, "best_accuracy": analysis.best_accuracy,
            "slower": [p for p in pairs if p["comparison"].verdict == "slower"],
            "noise": analysis.accuracy_noise, "band": analysis.band, "loss_band": analysis.loss_band,
            "test": analysis.test, "mode_key": analysis.mode,
            "excluded": [r for r in rows if r["status"] == "ok" and r["images_per_sec"]
                         and id(r["stats"]) not in accurate and not r["data_differs"]],
            "data_differs": [r for r in rows if r["data_differs"]],
            "too_few_rounds": {"rounds": min(p["comparison"].n for p in untestable),
                               "needed": min_rounds_for(family), "comparisons": family}
            if untestable else None}


def format_number(value, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return f"{value:,.{digits}f}"
