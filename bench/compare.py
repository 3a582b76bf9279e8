"""Comparing saved runs: per-cell ratios, a noise verdict, and loud fingerprint warnings.

Two runs are only comparable on the same hardware and dataset; where their
fingerprints differ, every comparison is printed under a warning that says how.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.config import Cell
from bench.measure import intervals_overlap
from bench.results import load_run, mode_summaries

HARDWARE_KEYS = ("cpu_model", "cpu_count_logical", "ram_bytes", "machine")
DATASET_KEYS = ("sha256", "num_files", "total_bytes")


def fingerprint_differences(a: dict, b: dict) -> list[str]:
    """What differs between two runs' hardware, GPUs, frameworks and datasets, as sentences."""
    notes = []
    ea, eb = a["environment"], b["environment"]
    for key in HARDWARE_KEYS:
        if ea.get(key) != eb.get(key):
            notes.append(f"hardware differs: {key} {ea.get(key)!r} vs {eb.get(key)!r}")
    fa, fb = a["environment"].get("framework", {}), b["environment"].get("framework", {})
    for key in ("gpus", "tensorflow", "keras"):
        if fa.get(key) != fb.get(key):
            notes.append(f"{'hardware' if key == 'gpus' else 'software'} differs: {key} "
                         f"{fa.get(key)!r} vs {fb.get(key)!r}")
    for key in DATASET_KEYS:
        if a["dataset"].get(key) != b["dataset"].get(key):
            notes.append(f"dataset differs: {key} {a['dataset'].get(key)!r} vs {b['dataset'].get(key)!r}")
    return notes


def compare_frame(base: dict, other: dict) -> pd.DataFrame:
    """Per cell and mode: both medians with their CIs, the ratio, and whether it is noise."""
    def summaries(doc):
        return {(Cell.of(c).name, c["precision"], c["augmentation"], mode): s
                for c in doc["cells"] for mode, s in mode_summaries(c).items() if s is not None}

    a, b = summaries(base), summaries(other)
    rows = []
    for key in [k for k in a if k in b]:
        sa, sb = a[key], b[key]
        overlap = intervals_overlap(sa.ci_low, sa.ci_high, sb.ci_low, sb.ci_high)
        direction = "faster" if sb.median > sa.median else "slower"
        rows.append({"variant": key[0], "precision": key[1], "augmentation": key[2], "mode": key[3],
                     "base_images_per_sec": sa.median, "other_images_per_sec": sb.median,
                     "base_ci_low": sa.ci_low, "base_ci_high": sa.ci_high,
                     "other_ci_low": sb.ci_low, "other_ci_high": sb.ci_high,
                     "ratio": sb.median / sa.median if sa.median else None,
                     "verdict": "within noise" if overlap else direction})
    return pd.DataFrame(rows)


def compare_runs(paths: list[Path]) -> tuple[list[str], list[pd.DataFrame], list[dict]]:
    """Warnings, one comparison table per run after the first (against the first), the documents."""
    docs = [load_run(p) for p in paths]
    warnings, frames = [], []
    for path, doc in zip(paths[1:], docs[1:], strict=True):
        warnings += [f"{path}: {note}" for note in fingerprint_differences(docs[0], doc)]
        frames.append(compare_frame(docs[0], doc))
    return warnings, frames, docs


def render_comparison(paths: list[Path], out_dir: Path) -> Path:
    """Write `compare.html` (self-contained, escaped) into `out_dir` and return its path."""
    from bench.report import ENV, format_number
    from bench.results import atomic_write_text

    warnings, frames, docs = compare_runs(paths)
    runs = [{"path": str(p), "doc": d, "rows": f.to_dict("records") if f is not None else []}
            for p, d, f in zip(paths, docs, [None, *frames], strict=True)]
    html = ENV.get_template("compare.html.j2").render(runs=runs, warnings=warnings, fmt=format_number)
    path = Path(out_dir) / "compare.html"
    atomic_write_text(path, html)
    return path
