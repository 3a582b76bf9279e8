"""The HTML page comparing saved runs (`pipebench compare`), from their results.json alone."""

from __future__ import annotations

from pathlib import Path

from bench.report import ENV, format_number
from bench.results.compare import DRIFT_NOTE, compare_runs
from bench.stats import UNPAIRED_TEST
from pipelines.files import atomic_write_text


def render_comparison(paths: list[Path], out_dir: Path, compared: tuple | None = None) -> Path:
    """Write `compare.html` (self-contained, escaped) into `out_dir` and return its path;
    `compared` is what `compare_runs(paths)` gave, where the caller has it already."""
    warnings, frames, docs = compared or compare_runs(paths)
    runs = [{"path": str(p), "doc": d, "rows": f.to_dict("records") if f is not None else []}
            for p, d, f in zip(paths, docs, [None, *frames], strict=True)]
    html = ENV.get_template("compare.html.j2").render(runs=runs, warnings=warnings, fmt=format_number,
                                                      test=UNPAIRED_TEST, drift=DRIFT_NOTE)
    path = Path(out_dir) / "compare.html"
    atomic_write_text(path, html)
    return path
