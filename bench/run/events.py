"""What a cell's worker tells the runner: typed events, one `@pipebench {json}` line each on stdout;
and what the runner asks of it: a typed `Command`, one JSON line on its stdin.

The worker makes each event as a frozen record and `encode`s it; the runner `decode`s
the line back into the same record, so neither side reads the other's dict keys. The
line is the only place the events are JSON (the results document keeps what they carry).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields

EVENT_PREFIX = "@pipebench "


@dataclass(frozen=True)
class Service:
    """The cell's local tf.data service is up: its address and its workers' pids."""

    target: str
    worker_pids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class SetUp:
    """The cell is set up (model, warm-up fit, accuracy fits, data check): what it found."""

    framework: dict
    warmup_fit: dict | None = None
    equivalence: dict | None = None  # `bench.data.equivalence.Equivalence.to_dict()`
    accuracy_fits: list = field(default_factory=list)
    validation_resize: str | None = None
    cores: list[int] | None = None
    threads: dict | None = None


@dataclass(frozen=True)
class Ready:
    """The cell is calibrated: what calibration found, and the repeats it fixed."""

    calibration: dict
    loops: dict


@dataclass(frozen=True)
class Trial:
    """One round's runs of the cell, every mode (`bench.results.records.ModeRun.to_dict()`)."""

    round: int
    runs: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Finished:
    """The cell wrote its tail record (telemetry series, service record) and is leaving."""


@dataclass(frozen=True)
class Stop:
    """The cell cannot go on: `failed` (an error), or `unavailable` (known before measuring)."""

    error: str


@dataclass(frozen=True)
class Failed(Stop):
    pass


@dataclass(frozen=True)
class Unavailable(Stop):
    pass


@dataclass(frozen=True)
class Command:
    """What the runner asks of a worker, one JSON line on its stdin: `calibrate`, `trial` (of
    `round`) or `finish`."""

    op: str
    round: int | None = None

    def to_line(self) -> str:
        return json.dumps({"op": self.op, "round": self.round}) + "\n"

    @classmethod
    def from_line(cls, line: str) -> Command:
        raw = json.loads(line)
        return cls(op=raw.get("op", ""), round=raw.get("round"))


NAMES = {Service: "service", SetUp: "set_up", Ready: "ready", Trial: "trial", Finished: "finished",
         Failed: "failed", Unavailable: "unavailable"}
KINDS = {name: kind for kind, name in NAMES.items()}


def name_of(event) -> str:
    return NAMES[type(event)]


def encode(event) -> str:
    """The event's line (no newline)."""
    body = {f.name: getattr(event, f.name) for f in fields(event)}
    return EVENT_PREFIX + json.dumps({"event": name_of(event), **body})


def decode(line: str):
    """The event on this line, or None where the line is not one (any other output of the worker)."""
    if not line.startswith(EVENT_PREFIX):
        return None
    try:
        raw = json.loads(line[len(EVENT_PREFIX):])
        kind = KINDS[raw.pop("event")]
        return kind(**{f.name: raw[f.name] for f in fields(kind) if f.name in raw})
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None
