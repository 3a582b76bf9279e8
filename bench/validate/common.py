"""What every check shares: its typed finding, the file it writes, and a real `pipebench run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.errors import PipebenchError
from bench.run.environment import fingerprint
from pipelines.files import atomic_write_text

SCHEMA_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parents[2]  # the folder holding bench/ and pipelines/
TESTS = REPO_ROOT / "tests"


@dataclass(frozen=True)
class Finding:
    """A check's outcome: whether its known answer held (None: it states none), printed lines, raw figures."""

    check: str
    held: bool | None
    lines: tuple[str, ...]
    figures: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, **asdict(self), "lines": list(self.lines)}

    @classmethod
    def from_dict(cls, raw: dict) -> Finding:
        return cls(raw["check"], raw["held"], tuple(raw["lines"]), raw.get("figures", {}))


def save(folder: Path, finding: Finding, arguments: dict, started_s: float) -> Path:
    """`validate.json`: the finding, the arguments, the machine and the time it took."""
    doc = {**finding.to_dict(), "arguments": {k: str(v) if isinstance(v, Path) else v
                                                for k, v in arguments.items()},
           "machine": fingerprint(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "seconds": round(time.monotonic() - started_s, 1)}
    path = folder / "validate.json"
    atomic_write_text(path, json.dumps(doc, indent=1, default=str))
    return path


def run_pipebench(results: Path, arguments: list[str], cwd: Path = REPO_ROOT) -> Path:
    """A real `pipebench run ARGUMENTS --results-dir RESULTS`; its new run folder.

    Run from `tests/` (cwd) where a check's pipeline lives there (`plugins.broken_data`).
    A failed run is a one-line error with the run's last words."""
    results.mkdir(parents=True, exist_ok=True)
    before = set(results.iterdir())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), str(TESTS),
                                                                      os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "bench", "run", *arguments, "--results-dir", str(results)],
                          cwd=cwd, env=env, capture_output=True, text=True)
    made = [p for p in set(results.iterdir()) - before if p.is_dir()]
    if done.returncode != 0 or not made:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise PipebenchError(f"the check's pipebench run failed (status {done.returncode}): {last}")
    return made[0]


def fraction(count: int, total: int) -> str:
    return f"{count}/{total} ({count / total:.0%})" if total else "0/0"
