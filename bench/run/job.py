"""The job the runner gives one cell's worker: typed, frozen, and written as JSON beside the run.

The runner builds it (`bench.run.runner.job_for`) and writes it to `<cell>.job.json`;
the worker process reads it back with `Job.from_dict` and never sees a bare dict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from bench.config import Cell, RunConfig
from pipelines.spec import DataSpec


@dataclass(frozen=True)
class Settings:
    """What every cell of a run shares: the model, the sizes, the modes and the sample length."""

    model: str
    epochs: int
    batch_size: int
    rounds: int
    seed: int
    modes: tuple[str, ...]
    step_s: float
    telemetry_hz: float
    min_sample_s: float
    accuracy_epochs: int
    page_cache: str = "warm"
    band_seeds: int = 1  # fits of this cell for the accuracy band: the reference's seeds, else 1

    @classmethod
    def of(cls, config: RunConfig, band_seeds: int = 1) -> Settings:
        shared = {f.name: getattr(config, f.name) for f in fields(cls) if f.name != "band_seeds"}
        return cls(**{**shared, "modes": tuple(shared["modes"])}, band_seeds=band_seeds)

    @classmethod
    def from_dict(cls, raw: dict) -> Settings:
        return cls(**{**raw, "modes": tuple(raw["modes"])})


@dataclass(frozen=True)
class Job:
    """One cell of a run, and where its worker writes: its scratch folder, result and log.

    `options` are the variant's resolved option values (`pipelines.base.cell_options`);
    `overhead_repeats`, when set, makes the worker measure the telemetry sampler's overhead
    instead of serving rounds.
    """

    cell: Cell
    settings: Settings
    options: dict[str, Any]
    spec: DataSpec
    scratch_dir: Path
    result_path: Path
    log_path: Path
    overhead_repeats: int | None = None

    def with_options(self, options: dict[str, Any]) -> Job:
        return replace(self, options=dict(options))

    def to_dict(self) -> dict:
        return {"cell": self.cell.to_record(), "settings": {**asdict(self.settings),
                                                             "modes": list(self.settings.modes)},
                "options": dict(self.options), "spec": self.spec.to_json(),
                "scratch_dir": str(self.scratch_dir), "result_path": str(self.result_path),
                "log_path": str(self.log_path), "overhead_repeats": self.overhead_repeats}

    @classmethod
    def from_dict(cls, raw: dict) -> Job:
        return cls(cell=Cell.of(raw["cell"]), settings=Settings.from_dict(raw["settings"]),
                   options=dict(raw["options"]), spec=DataSpec.from_json(raw["spec"]),
                   scratch_dir=Path(raw["scratch_dir"]), result_path=Path(raw["result_path"]),
                   log_path=Path(raw["log_path"]), overhead_repeats=raw.get("overhead_repeats"))
