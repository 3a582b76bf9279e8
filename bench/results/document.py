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
from dataclasses import dataclass, field, fields, replace
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


@dataclass(frozen=True)
class RoundRecord:
    """One round of a run: its shuffled cell order and when it started."""

    round: int
    order: tuple[str, ...] = ()
    started_unix: float | None = None

    def to_dict(self) -> dict:
        return {"round": self.round, "order": list(self.order), "started_unix": self.started_unix}


@dataclass(frozen=True)
class RunDocument:
    """Everything in results.json but the cells (the runner's ledger holds those, typed).

    The runner changes it only by replacing it (`dataclasses.replace`); `to_dict(cells)` is
    the file. Fields the loader does not know (a later minor addition) ride in `extra`."""

    run_id: str
    created: str = ""
    command: str = ""
    config: dict = field(default_factory=dict)  # `bench.config.RunConfig.to_dict()`
    environment: dict = field(default_factory=dict)
    dataset: dict = field(default_factory=dict)
    label: str | None = None
    baseline: str | None = None
    complete: bool = False
    target_accuracy: float | None = None
    target_accuracy_source: str | None = None
    skipped: tuple[dict, ...] = ()
    rounds: tuple[RoundRecord, ...] = ()
    data_check: dict | None = None
    telemetry_overhead: tuple[dict, ...] | None = None
    extra: dict = field(default_factory=dict)

    def with_round(self, record: RoundRecord) -> RunDocument:
        return replace(self, rounds=(*self.rounds, record))

    def with_framework(self, framework: dict) -> RunDocument:
        """The environment with a cell's framework versions added (the first, and one per backend)."""
        frameworks = {**self.environment.get("frameworks", {}), framework.get("keras_backend"): framework}
        first = self.environment.get("framework", framework)
        return replace(self, environment={**self.environment, "framework": first, "frameworks": frameworks})

    def to_dict(self, cells=()) -> dict:
        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("rounds", "extra")}
        overhead = self.telemetry_overhead
        return {"schema_version": SCHEMA_VERSION, **plain, "skipped": list(self.skipped),
                "rounds": [r.to_dict() for r in self.rounds],
                "telemetry_overhead": list(overhead) if overhead is not None else None,
                **self.extra, "cells": [c.to_dict() for c in cells]}

    @classmethod
    def from_dict(cls, raw: dict) -> RunDocument:
        """From a loaded (so upgraded) document; its cells are read apart (`CellResult`)."""
        named = {f.name for f in fields(cls)} - {"rounds", "extra", "skipped", "telemetry_overhead"}
        overhead = raw.get("telemetry_overhead")
        rounds = tuple(RoundRecord(r.get("round", 0), tuple(r.get("order", ())), r.get("started_unix"))
                       for r in raw.get("rounds") or ())
        return cls(**{k: raw.get(k) for k in named if k in raw}, skipped=tuple(raw.get("skipped") or ()),
                   rounds=rounds, telemetry_overhead=tuple(overhead) if overhead is not None else None,
                   extra={k: v for k, v in raw.items() if k not in named | {
                       "rounds", "skipped", "telemetry_overhead", "cells", "schema_version"}})


def new_run_dir(results_dir: Path, prefix: str = "") -> Path:
    """A fresh `results/<prefix><run-id>/`; concurrent runs never share one (exclusive mkdir).

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
        run_id = prefix + time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        path = results_dir / run_id
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def unmeasured(cell: dict, status: str, error: str) -> dict:
    """The record of a cell that produced no run: unavailable, refused, timeout or failed."""
    return {**cell, "status": status, "error": error, "runs": []}


def save_document(run_dir: Path, doc: dict | RunDocument, cells=None) -> Path:
    """Write results.json, each cell through its typed record, atomically; nothing is analysed.

    `doc`: the runner's typed document with its `cells` (typed `CellResult`s), or a
    document's dict, whose cells are then typed from its dicts."""
    if isinstance(doc, RunDocument):
        typed = doc.to_dict(cells or ())
    else:
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
