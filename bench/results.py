"""Results on disk: a versioned JSON document per run, a tidy CSV, and a pandas loader.

`results.json` keeps every raw sample (per-epoch images, times and accuracies of
every trial); every summary column in `results.csv` is derived from it, so the
CSV can always be regenerated. Every write is atomic (temporary file + rename).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import PipebenchError
from bench.measure import Summary, summarize

SCHEMA_VERSION = 2
# Schema history (the loader upgrades older documents step by step):
#   1: cells with raw `trials` of end-to-end training only.
#   2: cells with raw `runs`, one per mode x trial (pipeline, train, model_only, simulated),
#      each with its telemetry summary; the cell keeps the sampled telemetry series;
#      `target_accuracy` at the top level.

MIN_FREE_BYTES = 200 * 2**20  # results, logs, TFRecord shards and disk caches of one run

CSV_COLUMNS = [
    "variant", "options", "backend", "precision", "augmentation", "mode", "trial", "status", "images_per_sec",
    "images_per_sec_median", "images_per_sec_ci_low", "images_per_sec_ci_high", "unstable",
    "first_batch_s", "build_s", "epochs", "images_delivered", "images_expected",
    "train_accuracy", "val_accuracy", "time_to_accuracy_s", "stall_percent", "au_percent",
    "input_bound", "cpu_percent", "peak_rss_bytes", "read_bytes", "gpu_util_percent",
    "warmup_included", "error", "note",
]


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def new_run_dir(results_dir: Path) -> Path:
    """A fresh `results/<run-id>/`; concurrent runs never share one (exclusive mkdir).

    Checked before anything is measured: a results folder that cannot be written
    or a nearly full disk is reported now, not after the first cell.
    """
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=results_dir, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise PipebenchError(f"results folder {str(results_dir)!r} is not writable ({exc.strerror}); "
                             "give a writable --results-dir") from None
    free = shutil.disk_usage(results_dir).free
    if free < MIN_FREE_BYTES:
        raise PipebenchError(f"only {free // 2**20} MiB free under {str(results_dir)!r}; "
                             f"pipebench needs at least {MIN_FREE_BYTES // 2**20} MiB")
    while True:
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        path = results_dir / run_id
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def verdict(stall_percent: float | None) -> str | None:
    """The TensorFlow Profiler's thresholds on the share of step time spent waiting for input."""
    if stall_percent is None:
        return None
    if stall_percent < 5.0:
        return "not input-bound"  # under 5% of step time waiting for input
    return "moderately input-bound" if stall_percent <= 20.0 else "highly input-bound"


def unmeasured(cell: dict, status: str, error: str) -> dict:
    """The record of a cell that produced no run: unavailable, refused, timeout or failed."""
    return {**cell, "status": status, "error": error, "runs": []}


def time_to_accuracy(epochs: list[dict], target: float | None) -> float | None:
    """Wall seconds from the start of training until validation accuracy first reaches `target`."""
    if target is None:
        return None
    for epoch in epochs:
        if (epoch.get("val_accuracy") or 0.0) >= target:
            return epoch.get("wall_s")
    return None


def mode_summaries(cell: dict) -> dict[str, Summary | None]:
    """Median and CI of each mode's per-trial rates (successful runs only)."""
    by_mode: dict[str, list[float]] = {}
    for run in cell.get("runs", []):
        if run.get("status") == "ok":
            by_mode.setdefault(run["mode"], []).append(run.get("images_per_sec"))
    return {mode: summarize(rates) for mode, rates in by_mode.items()}


def cell_metrics(cell: dict, target: float | None = None) -> dict:
    """What a cell's modes say together: stall %, AU %, the verdict, time to accuracy."""
    summaries = mode_summaries(cell)
    train, bound = summaries.get("train"), summaries.get("model_only")
    stall = None
    if train and bound and bound.median > 0:
        stall = max(0.0, 100.0 * (1.0 - train.median / bound.median))
    aus = [r["au"] for r in cell.get("runs", []) if r["mode"] == "simulated" and r.get("au") is not None]
    reached = [time_to_accuracy(r.get("epochs", []), target)
               for r in cell.get("runs", []) if r["mode"] == "train" and r.get("status") == "ok"]
    times = [t for t in reached if t is not None]
    return {
        "summaries": summaries,
        "stall_percent": stall,
        "au_percent": 100.0 * float(np.median(aus)) if aus else None,
        "input_bound": verdict(stall),
        "time_to_accuracy_s": float(np.median(times)) if times and len(times) == len(reached) else None,
    }


def run_row(cell: dict, run: dict, metrics: dict, target: float | None) -> dict:
    """One tidy CSV row: one mode of one trial of one cell, with the cell's derived figures."""
    epochs = run.get("epochs") or []
    last = epochs[-1] if epochs else {}
    summary = metrics["summaries"].get(run.get("mode"))
    telemetry = run.get("telemetry") or {}
    is_train = run.get("mode") == "train"
    return {
        "variant": cell["variant"], "options": " ".join(cell.get("options", [])),
        "backend": cell.get("backend", "tensorflow"), "precision": cell["precision"],
        "augmentation": cell["augmentation"], "mode": run.get("mode"),
        "trial": run.get("trial", 0), "status": run.get("status", "failed"),
        "images_per_sec": run.get("images_per_sec"),
        "images_per_sec_median": summary.median if summary else None,
        "images_per_sec_ci_low": summary.ci_low if summary else None,
        "images_per_sec_ci_high": summary.ci_high if summary else None,
        "unstable": summary.unstable if summary else None,
        "first_batch_s": run.get("first_batch_s"), "build_s": run.get("build_s"),
        "epochs": len(epochs), "images_delivered": sum(e["images"] for e in epochs),
        "images_expected": run.get("images_expected"),
        "train_accuracy": last.get("accuracy") if is_train else None,
        "val_accuracy": last.get("val_accuracy") if is_train else None,
        "time_to_accuracy_s": time_to_accuracy(epochs, target) if is_train else None,
        "stall_percent": metrics["stall_percent"], "au_percent": metrics["au_percent"],
        "input_bound": metrics["input_bound"],
        "cpu_percent": telemetry.get("cpu_percent"), "peak_rss_bytes": telemetry.get("peak_rss_bytes"),
        "read_bytes": telemetry.get("read_bytes"), "gpu_util_percent": telemetry.get("gpu_util_percent"),
        "warmup_included": run.get("warmup_included"),
        "error": run.get("error") or cell.get("error"), "note": run.get("note") or cell.get("note"),
    }


def cell_rows(cell: dict, target: float | None) -> list[dict]:
    """Tidy rows of one cell; a cell that produced no run at all still gets one (failed) row."""
    runs = cell.get("runs") or [{"mode": None, "trial": 0, "status": cell.get("status", "failed"),
                                 "error": cell.get("error")}]
    metrics = cell_metrics(cell, target)
    return [run_row(cell, run, metrics, target) for run in runs]


def to_frame(doc: dict) -> pd.DataFrame:
    target = doc.get("target_accuracy")
    rows = [row for cell in doc.get("cells", []) for row in cell_rows(cell, target)]
    return pd.DataFrame(rows, columns=CSV_COLUMNS)


def save_run(run_dir: Path, doc: dict) -> None:
    """Write results.json and results.csv atomically."""
    atomic_write_text(run_dir / "results.json", json.dumps(doc, indent=1, default=str))
    atomic_write_text(run_dir / "results.csv", to_frame(doc).to_csv(index=False))


def results_path(path: Path) -> Path:
    """Accept a run folder or its results.json."""
    path = Path(path)
    return path / "results.json" if path.is_dir() else path


def load_run(path: Path) -> dict:
    """Load a run's document, with a clear error for a missing, corrupted or newer file."""
    file = results_path(path)
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipebenchError(f"no results at {str(file)!r}; give a run folder under results/") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PipebenchError(f"results file {str(file)!r} is corrupted ({exc})") from None
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if version not in UPGRADES and version != SCHEMA_VERSION:
        raise PipebenchError(
            f"results file {str(file)!r} has schema_version {version!r}; "
            f"this pipebench reads versions 1..{SCHEMA_VERSION}"
        )
    while doc["schema_version"] != SCHEMA_VERSION:
        doc = UPGRADES[doc["schema_version"]](doc)
    return doc


def upgrade_1_to_2(doc: dict) -> dict:
    """Version 1 measured end-to-end training only: its trials become `train` runs."""
    for cell in doc.get("cells", []):
        cell["runs"] = [{"mode": "train", **trial} for trial in cell.pop("trials", [])]
    doc.setdefault("target_accuracy", None)
    return {**doc, "schema_version": 2}


UPGRADES = {1: upgrade_1_to_2}


def load_frame(path: Path) -> pd.DataFrame:
    """A saved run as a tidy DataFrame, one row per variant x precision x augmentation x trial."""
    return to_frame(load_run(path))
