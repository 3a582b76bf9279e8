"""Results on disk: a versioned JSON document per run, a tidy CSV, and a pandas loader.

`results.json` keeps every raw sample (per-epoch images, times and accuracies of
every trial); every summary column in `results.csv` is derived from it, so the
CSV can always be regenerated. Every write is atomic (temporary file + rename).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.errors import PipebenchError
from bench.measure import steady_state, summarize

SCHEMA_VERSION = 1
# Schema history:
#   1: first version: config, environment, dataset fingerprint, cells with raw trials.

CSV_COLUMNS = [
    "variant", "precision", "augmentation", "trial", "status", "images_per_sec",
    "images_per_sec_median", "images_per_sec_ci_low", "images_per_sec_ci_high", "unstable",
    "first_batch_s", "build_s", "epochs", "images_delivered", "images_expected",
    "train_accuracy", "val_accuracy", "warmup_included", "error", "note",
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
    """A fresh `results/<run-id>/`; concurrent runs never share one (exclusive mkdir)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    while True:
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        path = results_dir / run_id
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def trial_rows(cell: dict) -> list[dict]:
    """Tidy rows of one cell: one per trial, with the cell's median and CI repeated on each."""
    trials = cell.get("trials") or [{"trial": 0, "status": cell.get("status", "failed"),
                                     "error": cell.get("error")}]
    rates = [t.get("images_per_sec") for t in trials if t.get("status") == "ok"]
    summary = summarize(rates)
    rows = []
    for trial in trials:
        epochs = trial.get("epochs") or []
        last = epochs[-1] if epochs else {}
        rows.append({
            "variant": cell["variant"],
            "precision": cell["precision"],
            "augmentation": cell["augmentation"],
            "trial": trial.get("trial", 0),
            "status": trial.get("status", "failed"),
            "images_per_sec": trial.get("images_per_sec"),
            "images_per_sec_median": summary.median if summary else None,
            "images_per_sec_ci_low": summary.ci_low if summary else None,
            "images_per_sec_ci_high": summary.ci_high if summary else None,
            "unstable": summary.unstable if summary else None,
            "first_batch_s": trial.get("first_batch_s"),
            "build_s": trial.get("build_s"),
            "epochs": len(epochs),
            "images_delivered": sum(e["images"] for e in epochs),
            "images_expected": trial.get("images_expected"),
            "train_accuracy": last.get("accuracy"),
            "val_accuracy": last.get("val_accuracy"),
            "warmup_included": trial.get("warmup_included"),
            "error": trial.get("error") or cell.get("error"),
            "note": trial.get("note"),
        })
    return rows


def trial_throughput(epochs: list[dict]) -> dict:
    """The derived throughput fields of one trial, from its raw epochs."""
    result = steady_state(epochs)
    return {"images_per_sec": result.images_per_sec, "warmup_included": result.warmup_included}


def to_frame(doc: dict) -> pd.DataFrame:
    rows = [row for cell in doc.get("cells", []) for row in trial_rows(cell)]
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
    if version != SCHEMA_VERSION:
        raise PipebenchError(
            f"results file {str(file)!r} has schema_version {version!r}; "
            f"this pipebench reads {SCHEMA_VERSION}"
        )
    return doc


def load_frame(path: Path) -> pd.DataFrame:
    """A saved run as a tidy DataFrame, one row per variant x precision x augmentation x trial."""
    return to_frame(load_run(path))
