"""The tidy table of a run: `results.csv`, one row per mode x round x cell, and its pandas loader.

Every row is one raw sample with its cell's derived figures (`bench.results.analysis`)
beside it, so the CSV can always be regenerated from `results.json`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.results.analysis import Analysis, CellStats, analyse, time_to_accuracy
from bench.results.document import load_run
from bench.results.records import ModeRun
from bench.stats import Comparison
from pipelines.files import atomic_write_text

CSV_COLUMNS = [
    "variant", "options", "backend", "precision", "augmentation", "mode", "round", "status",
    "images_per_sec", "images", "seconds", "loops", "started_unix", "loadavg_1m", "steal_percent", "gc_s",
    "images_per_sec_median", "images_per_sec_low", "images_per_sec_high", "interval_coverage", "unstable",
    "first_batch_s", "build_s", "epochs", "images_delivered", "images_expected",
    "train_accuracy", "val_accuracy", "time_to_accuracy_s",
    "accuracy_band_low", "accuracy_band_high", "accuracy_vs_band", "epochs_to_target",
    "val_loss", "loss_band_low", "loss_band_high", "loss_vs_band",
    "data_check", "data_matched_share", "data_label_agreement", "data_mae", "data_p99_abs_error",
    "data_value_min", "data_value_max", "data_reasons",
    "stall_percent", "stall_percent_low", "stall_percent_high", "au_percent", "au_percent_low",
    "au_percent_high", "input_bound", "fastest", "vs_fastest_ratio", "vs_fastest_low", "vs_fastest_high",
    "vs_fastest_p_adjusted", "vs_fastest_verdict", "baseline", "vs_baseline_ratio", "vs_baseline_low",
    "vs_baseline_high",
    "cpu_s", "service_cpu_s", "main_thread_cpu_s", "busiest_thread_cpu_s", "cpu_us_per_image", "cores_used",
    "cpu_us_per_image_median", "cpu_us_per_image_low", "cpu_us_per_image_high", "cpu_interval_coverage",
    "pipeline_cpu_us_per_image_median", "pipeline_cpu_us_per_image_low", "pipeline_cpu_us_per_image_high",
    "cpu_vs_baseline_ratio", "cpu_vs_baseline_low", "cpu_vs_baseline_high", "cpu_vs_baseline_p_adjusted",
    "cpu_vs_baseline_verdict",
    "cores", "predicted_images_per_sec", "cores_needed_for_target", "service_workers_for_target",
    "target_rate", "binding_limit",
    "cpu_percent", "peak_rss_bytes", "read_bytes", "gpu_util_percent",
    "page_cache", "run_storage_read_bytes", "storage_read_bytes", "evicted_bytes", "cold_read_share_min",
    "page_cache_flag",
    "warmup_included", "error", "note",
]


def run_row(stats_: CellStats, run: ModeRun, target: float | None, analysis: Analysis) -> dict:
    """One tidy CSV row: one mode of one round of one cell, with the cell's derived figures."""
    cell, summary = stats_.cell, stats_.modes.get(run.mode)
    epochs, telemetry, versus, tested = run.epochs, run.telemetry or {}, stats_.vs_baseline, stats_.vs_fastest
    baseline, fastest = analysis.baseline, analysis.fastest
    last = epochs[-1] if epochs else {}
    is_train = run.mode == "train"
    stall, au = stats_.stall, stats_.au
    return {
        "variant": cell.variant, "options": " ".join(cell.options), "backend": cell.backend,
        "precision": cell.precision, "augmentation": cell.augmentation, "mode": run.mode,
        "round": run.round, "status": run.status, "images_per_sec": run.images_per_sec,
        **{k: getattr(run.sample, k) for k in ("images", "seconds", "loops", "started_unix", "loadavg_1m",
                                                "steal_percent")},
        "images_per_sec_median": summary.median if summary else None,
        "images_per_sec_low": summary.low if summary else None,
        "images_per_sec_high": summary.high if summary else None,
        "interval_coverage": summary.coverage if summary else None,
        "unstable": summary.unstable if summary else None,
        "first_batch_s": run.first_batch_s, "build_s": run.build_s,
        "epochs": len(epochs), "images_delivered": sum(e.get("images", 0) for e in epochs),
        "images_expected": run.extra.get("images_expected"),
        "train_accuracy": last.get("accuracy") if is_train else None,
        **accuracy_columns(stats_, run, target, analysis),
        **data_columns(stats_.result.equivalence),
        "stall_percent": stall.median if stall else None, "stall_percent_low": stall.low if stall else None,
        "stall_percent_high": stall.high if stall else None,
        "au_percent": au.median if au else None, "au_percent_low": au.low if au else None,
        "au_percent_high": au.high if au else None, "input_bound": stats_.input_bound,
        "fastest": fastest.cell.label if fastest else None,
        **comparison_columns("vs_fastest", tested, ("ratio", "low", "high", "p_adjusted", "verdict")),
        "baseline": baseline.cell.label if baseline else None,
        **comparison_columns("vs_baseline", versus, ("ratio", "low", "high")),
        **cost_columns(stats_, run, analysis),
        "cpu_percent": telemetry.get("cpu_percent"), "peak_rss_bytes": telemetry.get("peak_rss_bytes"),
        "read_bytes": telemetry.get("read_bytes"), "gpu_util_percent": telemetry.get("gpu_util_percent"),
        **{k: run.extra.get(k) for k in ("page_cache", "run_storage_read_bytes", "storage_read_bytes",
                                           "evicted_bytes", "cold_read_share_min", "page_cache_flag")},
        "warmup_included": run.extra.get("warmup_included"), "gc_s": run.extra.get("gc_s"),
        "error": run.error or stats_.result.error, "note": run.note or stats_.result.note,
    }


def cost_columns(stats_: CellStats, run: ModeRun, analysis: Analysis) -> dict:
    """A row's CPU time: its own sample's, its mode's median and interval, the pipeline's own cost
    (training rows), and the cost comparison with the baseline (rows of the deciding mode)."""
    sample, summary = run.sample, stats_.cpu.get(run.mode)
    own = stats_.pipeline_cpu if run.mode == "train" else None
    versus = stats_.vs_baseline_cpu if run.mode == analysis.mode else None
    return {
        **{k: getattr(sample, k) for k in ("cpu_s", "service_cpu_s", "main_thread_cpu_s",
                                            "busiest_thread_cpu_s", "cpu_us_per_image", "cores_used")},
        "cpu_us_per_image_median": summary.median if summary else None,
        "cpu_us_per_image_low": summary.low if summary else None,
        "cpu_us_per_image_high": summary.high if summary else None,
        "cpu_interval_coverage": summary.coverage if summary else None,
        "pipeline_cpu_us_per_image_median": own.median if own else None,
        "pipeline_cpu_us_per_image_low": own.low if own else None,
        "pipeline_cpu_us_per_image_high": own.high if own else None,
        **comparison_columns("cpu_vs_baseline", versus, ("ratio", "low", "high", "p_adjusted", "verdict")),
        **need_columns(stats_, analysis),
    }


def need_columns(stats_: CellStats, analysis: Analysis) -> dict:
    """What the cell needs (the same on every row of the cell): `bench.results.capacity`."""
    capacity = stats_.capacity
    return {"cores": capacity.cores if capacity else stats_.cell.cores,
            "predicted_images_per_sec": stats_.predicted_images_per_sec,
            "cores_needed_for_target": (stats_.cores_needed if stats_.cores_needed is not None else "cannot")
            if capacity and analysis.target_rate else None,
            "service_workers_for_target": stats_.service_workers_needed,
            "target_rate": analysis.target_rate if capacity else None,
            "binding_limit": capacity.binding if capacity else None}


def accuracy_columns(stats_: CellStats, run: ModeRun, target: float | None, analysis: Analysis) -> dict:
    """A training row's accuracy and loss: the cell's accuracy fit's (a trial's own accuracy, in
    runs from before it)."""
    if run.mode != "train":
        return dict.fromkeys(("val_accuracy", "time_to_accuracy_s", "accuracy_band_low", "accuracy_band_high",
                              "accuracy_vs_band", "epochs_to_target", "val_loss", "loss_band_low",
                              "loss_band_high", "loss_vs_band"))
    own = not stats_.result.accuracy_fits
    band, losses = analysis.band, analysis.loss_band
    return {"val_accuracy": run.val_accuracy if own else stats_.val_accuracy,
            "time_to_accuracy_s": time_to_accuracy(run.epochs, target) if own else stats_.time_to_accuracy_s,
            "accuracy_band_low": band.low if band else None,
            "accuracy_band_high": band.high if band else None,
            "accuracy_vs_band": stats_.vs_band, "epochs_to_target": stats_.epochs_to_target,
            "val_loss": stats_.val_loss, "loss_band_low": losses.low if losses else None,
            "loss_band_high": losses.high if losses else None, "loss_vs_band": stats_.loss_vs_band}


def data_columns(found) -> dict:
    """The equivalence record's CSV columns (the same on every row of the cell)."""
    keys = ("matched_share", "label_agreement", "mae", "p99_abs_error", "value_min", "value_max")
    return {"data_check": found.verdict if found else None,
            **{f"data_{k}": getattr(found, k) if found else None for k in keys},
            "data_reasons": "; ".join(found.reasons) if found else None}


def comparison_columns(prefix: str, comparison: Comparison | None, keys: tuple[str, ...]) -> dict:
    return {f"{prefix}_{key}": getattr(comparison, key) if comparison else None for key in keys}


def cell_rows(stats_: CellStats, target: float | None, analysis: Analysis) -> list[dict]:
    """Tidy rows of one cell; a cell that produced no run at all still gets one row with its status."""
    runs = stats_.result.runs or (ModeRun(mode=None, round=0, status=stats_.result.status,
                                          error=stats_.result.error),)
    return [run_row(stats_, run, target, analysis) for run in runs]


def to_frame(doc: dict) -> pd.DataFrame:
    analysis = analyse(doc)
    target = doc.get("target_accuracy")
    rows = [row for c in analysis.cells for row in cell_rows(c, target, analysis)]
    return pd.DataFrame(rows, columns=CSV_COLUMNS)


def write_table(run_dir: Path, doc: dict) -> Path:
    """Write results.csv beside the run's results.json, atomically."""
    path = run_dir / "results.csv"
    atomic_write_text(path, to_frame(doc).to_csv(index=False))
    return path


def load_frame(path: Path) -> pd.DataFrame:
    """A saved run as a tidy DataFrame, one row per variant x precision x augmentation x trial."""
    return to_frame(load_run(path))
