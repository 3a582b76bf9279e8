"""Profile and sweep records (`profile.json`, `sweep.json`): a typed header with a schema version.

`pipebench profile` and `pipebench sweep` save one `TuneRecord` each; the tuning page
(`bench.report.tune_page`) loads it back through `load_tune_record`, which refuses a
newer schema and upgrades older ones, as `results.json` is loaded. The measurement
itself (stages, advice and its verification; the sweep's points) is the record's body,
kept as the tools wrote it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from bench.errors import PipebenchError

TUNE_SCHEMA_VERSION = 1
# Schema history:
#   0 (no `schema_version`): records of before 2026-12-02; the same fields.
#   1: `schema_version`; `config` read into `TuneConfig`.
KINDS = ("profile", "sweep")
HEADER = ("schema_version", "kind", "created", "environment", "config")


@dataclass(frozen=True)
class TuneConfig:
    """What was profiled or swept, and how: the variant, its options, the data and the rounds."""

    variant: str
    options: tuple[str, ...] = ()
    augmentation: str = "none"
    batch_size: int = 32
    target_rate: float | None = None
    dataset: dict = field(default_factory=dict)
    min_sample_s: float | None = None
    rounds: int | None = None
    seed: int = 0

    def to_dict(self) -> dict:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "options": list(self.options)}

    @classmethod
    def from_dict(cls, raw: dict) -> TuneConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known and k != "options"},
                   options=tuple(raw.get("options") or ()))


@dataclass(frozen=True)
class TuneRecord:
    """One profile or sweep: its header, typed, and its measurement (`body`)."""

    kind: str
    created: str
    environment: dict
    config: TuneConfig
    body: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"schema_version": TUNE_SCHEMA_VERSION, "kind": self.kind, "created": self.created,
                "environment": self.environment, "config": self.config.to_dict(), **self.body}

    @classmethod
    def from_dict(cls, raw: dict) -> TuneRecord:
        return cls(kind=raw.get("kind", ""), created=raw.get("created", ""),
                   environment=raw.get("environment") or {},
                   config=TuneConfig.from_dict(raw.get("config") or {}),
                   body={k: v for k, v in raw.items() if k not in HEADER})


def load_tune_record(path: Path) -> TuneRecord | None:
    """The record at `path` (None where there is none); a clear error for a corrupted or newer one."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PipebenchError(f"{str(path)!r} is corrupted ({exc})") from None
    version = raw.get("schema_version", 0) if isinstance(raw, dict) else None
    if version not in range(TUNE_SCHEMA_VERSION + 1):
        raise PipebenchError(f"{str(path)!r} has schema_version {version!r}; this pipebench reads "
                             f"versions 0..{TUNE_SCHEMA_VERSION}")
    record = TuneRecord.from_dict(raw)  # version 0 had the same fields: reading it is the upgrade
    if record.kind not in KINDS:
        raise PipebenchError(f"{str(path)!r} has kind {record.kind!r}; valid: {', '.join(KINDS)}")
    return record
