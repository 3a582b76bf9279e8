"""A run's document on disk: `results.json`, versioned, written atomically, upgraded on load.

The document holds what was measured and nothing derived from it: every raw sample
(per-epoch images, times, CPU seconds and accuracies of every round). The runner saves
it after every trial, and nothing else is computed then, so a failing analysis can
never cost a measurement; the statistics (`bench.results.analysis`) and the CSV
(`bench.results.table`) are derived from it when they are asked for.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from bench.errors import PipebenchError
from bench.results.records import CellResult
from pipelines.files import atomic_write_text

SCHEMA_VERSION = 4
# Schema history (the loader upgrades older documents step by step):
#   1: cells with raw `trials` of end-to-end training only.
#   2: cells with raw `runs`, one per mode x trial (pipeline, train, model_only, simulated),
#      each with its telemetry summary; the cell keeps the sampled telemetry series;
#      `target_accuracy` at the top level.
#   3: runs measured in interleaved rounds: each run has its `round`, its timed sample
#      (`images`, `seconds`, `loops`), `started_unix`, `loadavg_1m` and `steal_percent`;
#      cells have `calibration` and `loops`; the document lists `rounds` (each round's
#      shuffled cell order); `telemetry_overhead` is a list (one check per loader).
#      Added within 3, absent from older documents (read as None): each run's CPU time
#      (`cpu_s`, `service_cpu_s`, `main_thread_cpu_s`, `busiest_thread_cpu_s`, `cpu_read_s`);
#      each cell's `cores` (--cores), `cpu_affinity` and `threads`.
#   4: the configuration's `trials` is called `rounds`, as the command line and the report
#      call it (`--trials` is a deprecated alias of `--rounds`).

MIN_FREE_BYTES = 200 * 2**20  # results, logs, TFRecord shards and disk caches of one run


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


def unmeasured(cell: dict, status: str, error: str) -> dict:
    """The record of a cell that produced no run: unavailable, refused, timeout or failed."""
    return {**cell, "status": status, "error": error, "runs": []}


def save_document(run_dir: Path, doc: dict, cells=None) -> Path:
    """Write results.json, each cell through its typed record, atomically; nothing is analysed.

    `cells`: the document's cells as typed `CellResult`s where the caller holds them already
    (the runner's ledger); else they are typed from the document's dicts."""
    cells = cells if cells is not None else [CellResult.from_dict(c) for c in doc.get("cells", [])]
    typed = {**doc, "cells": [c.to_dict() for c in cells]}
    path = run_dir / "results.json"
    atomic_write_text(path, json.dumps(typed, indent=1, default=str))
    return path


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


def upgrade_2_to_3(doc: dict) -> dict:
    """Version 2 ran each cell's trials back to back: each trial becomes its own round.

    The timed sample is rebuilt from the stored rate and the steady epochs' images, so
    the old rates are kept exactly; the rounds' order was not recorded (empty list).
    """
    for cell in doc.get("cells", []):
        for run in cell.get("runs", []):
            run.setdefault("round", run.get("trial", 0))
            steady = [e for e in run.get("epochs") or [] if e.get("epoch", 1) > 1] or run.get("epochs") or []
            images = sum(e.get("images", 0) for e in steady)
            rate = run.get("images_per_sec")
            run.setdefault("images", images or None)
            run.setdefault("seconds", images / rate if images and rate else None)
    overhead = doc.get("telemetry_overhead")
    if isinstance(overhead, dict):
        doc["telemetry_overhead"] = [overhead]
    doc.setdefault("rounds", [])
    return {**doc, "schema_version": 3}


def upgrade_3_to_4(doc: dict) -> dict:
    """Version 3 called the configuration's rounds `trials`."""
    config = doc.get("config")
    if isinstance(config, dict) and "trials" in config:
        config["rounds"] = config.pop("trials")
    return {**doc, "schema_version": 4}


UPGRADES = {1: upgrade_1_to_2, 2: upgrade_2_to_3, 3: upgrade_3_to_4}
