"""guide.json: what `pipebench guide` measured, one typed record per tip (schema 1).

The guide's runs are ordinary run folders (results.json, each cell's raw samples);
guide.json keeps, per tip, its claim, the cells compared, the paired comparisons of
speed and of CPU cost, the verdict, and the figures a tip needs besides (accuracy
against the band, up-front decode, peak memory). `guide.html` renders from it alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.errors import PipebenchError
from bench.stats import Comparison
from pipelines.files import atomic_write_text

SCHEMA_VERSION = 1
VERDICTS = ("holds", "does not hold", "cannot tell")


def comparison_of(raw: dict | None) -> Comparison | None:
    if raw is None:
        return None
    return Comparison(**{**raw, "rounds": tuple(raw.get("rounds", ()))})


@dataclass(frozen=True)
class TipResult:
    """One tip as measured: the paired speed ratio (subject / reference) and its verdict,
    the paired CPU-cost ratio where both cells kept CPU time, and what else it shows."""

    id: str
    claim: str
    source: str
    change: str
    mode: str
    page_cache: str
    subject: str  # the cells' labels, as the run's report names them
    reference: str
    run: str  # the run folder that measured both (relative to the guide's folder)
    verdict: str
    reason: str  # why this verdict, in one line
    speed: Comparison | None = None
    cost: Comparison | None = None
    figures: dict = field(default_factory=dict)  # each cell's rate, cost, memory, up-front build, accuracy
    shows: tuple[str, ...] = ()  # which of the figures the tip is also about ("accuracy", "memory")

    @property
    def ratio(self) -> float | None:
        return self.speed.ratio if self.speed else None

    @property
    def ratio_low(self) -> float | None:
        return self.speed.low if self.speed else None

    @property
    def ratio_high(self) -> float | None:
        return self.speed.high if self.speed else None

    def to_dict(self) -> dict:
        raw = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("speed", "cost", "shows")}
        return {**raw, "ratio": self.ratio, "ratio_low": self.ratio_low, "ratio_high": self.ratio_high,
                "speed": self.speed.to_dict() if self.speed else None,
                "cost": self.cost.to_dict() if self.cost else None,
                "cpu_ratio": self.cost.ratio if self.cost else None, "shows": list(self.shows)}

    @classmethod
    def from_dict(cls, raw: dict) -> TipResult:
        named = set(cls.__dataclass_fields__) - {"speed", "cost", "shows"}
        return cls(**{k: raw[k] for k in named if k in raw}, speed=comparison_of(raw.get("speed")),
                   cost=comparison_of(raw.get("cost")), shows=tuple(raw.get("shows", ())))


@dataclass(frozen=True)
class GuideDocument:
    """The whole guide: when and where it ran, how, and every tip's result."""

    created: str
    command: str
    machine: dict
    settings: dict  # preset, dataset, rounds, sample length, target rate
    tips: tuple[TipResult, ...]
    runs: tuple[str, ...]  # the run folders, relative to the guide's folder
    seconds: float | None = None
    test: str = ""
    notes: tuple[str, ...] = ()
    autotune: tuple[dict, ...] = ()  # per autotuned cell, what AUTOTUNE chose (bench.guide.autotuned)

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, **asdict(self), "tips": [t.to_dict() for t in self.tips],
                "runs": list(self.runs), "notes": list(self.notes), "autotune": list(self.autotune)}

    @classmethod
    def from_dict(cls, raw: dict) -> GuideDocument:
        version = raw.get("schema_version")
        if version != SCHEMA_VERSION:
            raise PipebenchError(f"guide.json has schema version {version!r}; valid: {SCHEMA_VERSION} "
                                 "(written by this pipebench)")
        named = set(cls.__dataclass_fields__) - {"tips", "runs", "notes", "autotune"}
        return cls(**{k: raw[k] for k in named if k in raw},
                   tips=tuple(TipResult.from_dict(t) for t in raw["tips"]),
                   runs=tuple(raw.get("runs", ())), notes=tuple(raw.get("notes", ())),
                   autotune=tuple(raw.get("autotune", ())))


def save_guide(folder: Path, guide: GuideDocument) -> Path:
    path = Path(folder) / "guide.json"
    atomic_write_text(path, json.dumps(guide.to_dict(), indent=1, default=str))
    return path


def load_guide(path: Path) -> GuideDocument:
    """A guide folder's (or file's) guide.json, or a one-line error saying what is wrong with it."""
    path = Path(path)
    if path.is_dir():
        path = path / "guide.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise PipebenchError(f"{str(path)!r} does not exist; valid: a folder written by "
                             "`pipebench guide`") from None
    except json.JSONDecodeError as exc:
        raise PipebenchError(f"{str(path)!r} is not JSON ({exc.msg}, line {exc.lineno}); valid: a guide.json "
                             "written by `pipebench guide`") from None
    return GuideDocument.from_dict(raw)
