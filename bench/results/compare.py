"""Comparing saved runs: per-cell ratios, a test's verdict, and loud fingerprint warnings.

Two runs are only comparable on the same hardware and dataset; where their
fingerprints differ, every comparison is printed under a warning that says how.
Separate runs are not paired (their rounds were not interleaved), so the verdict
comes from an unpaired rank test, and every comparison says that drift between
the runs is not controlled.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.config import MODES
from bench.results.document import RunDocument, load_run
from bench.results.records import CellResult
from bench.stats import COST_WORDS, finish_comparisons, summarize, unpaired

HARDWARE_KEYS = ("cpu_model", "cpu_count_logical", "ram_bytes", "machine")
DATASET_KEYS = ("sha256", "num_files", "total_bytes")


def fingerprint_differences(a: RunDocument, b: RunDocument) -> list[str]:
    """What differs between two runs' hardware, GPUs, frameworks and datasets, as sentences."""
    notes = []
    for key in HARDWARE_KEYS:
        if a.environment.get(key) != b.environment.get(key):
            notes.append(f"hardware differs: {key} {a.environment.get(key)!r} vs {b.environment.get(key)!r}")
    fa, fb = a.environment.get("framework", {}), b.environment.get("framework", {})
    for key in ("gpus", "tensorflow", "keras"):
        if fa.get(key) != fb.get(key):
            notes.append(f"{'hardware' if key == 'gpus' else 'software'} differs: {key} "
                         f"{fa.get(key)!r} vs {fb.get(key)!r}")
    for key in DATASET_KEYS:
        if a.dataset.get(key) != b.dataset.get(key):
            notes.append(f"dataset differs: {key} {a.dataset.get(key)!r} vs {b.dataset.get(key)!r}")
    return notes


DRIFT_NOTE = ("these runs were measured at different times, so drift of the machine between them is "
              "not controlled (a paired comparison needs interleaved rounds): measure the cells you want "
              "to compare in one run, e.g. `pipebench run --variants A,B` or with `--pipeline`")


def compare_frame(base: dict, other: dict) -> pd.DataFrame:
    """Per cell and mode: both medians with their intervals, the ratio with a bootstrap interval,
    and a verdict from the Mann-Whitney U test, Holm-corrected across the table; beside them the
    same for CPU µs per image (a family of its own: costs more / costs less), where both runs kept it."""
    def per_cell(doc, read):
        results = [CellResult.from_dict(c) for c in doc["cells"]]
        return {(r.cell.name, r.cell.precision, r.cell.augmentation, mode): list(by_round.values())
                for r in results for mode in MODES if (by_round := read(r, mode))}

    a, b = per_cell(base, CellResult.by_round), per_cell(other, CellResult.by_round)
    keys = [k for k in a if k in b]
    compared = finish_comparisons([unpaired("other", "base", k[3], b[k], a[k]) for k in keys])
    ca, cb = per_cell(base, CellResult.cpu_by_round), per_cell(other, CellResult.cpu_by_round)
    costed = [k for k in keys if k in ca and k in cb]
    cost_parts = [unpaired("other", "base", k[3], cb[k], ca[k]) for k in costed]
    cost_of = dict(zip(costed, finish_comparisons(cost_parts, words=COST_WORDS), strict=True))
    rows = []
    for key, comparison in zip(keys, compared, strict=True):
        sa, sb = summarize(a[key]), summarize(b[key])
        cost = cost_of.get(key)
        rows.append({"variant": key[0], "precision": key[1], "augmentation": key[2], "mode": key[3],
                     "base_images_per_sec": sa.median, "other_images_per_sec": sb.median,
                     "base_low": sa.low, "base_high": sa.high, "base_coverage": sa.coverage,
                     "other_low": sb.low, "other_high": sb.high, "other_coverage": sb.coverage,
                     "ratio": comparison.ratio, "ratio_low": comparison.low, "ratio_high": comparison.high,
                     "p_adjusted": comparison.p_adjusted, "verdict": comparison.verdict,
                     "test": comparison.test,
                     "base_cpu_us_per_image": summarize(ca[key]).median if cost else None,
                     "other_cpu_us_per_image": summarize(cb[key]).median if cost else None,
                     "cpu_ratio": cost.ratio if cost else None, "cpu_ratio_low": cost.low if cost else None,
                     "cpu_ratio_high": cost.high if cost else None,
                     "cpu_verdict": cost.verdict if cost else None})
    return pd.DataFrame(rows)


def compare_runs(paths: list[Path]) -> tuple[list[str], list[pd.DataFrame], list[dict]]:
    """Warnings, one comparison table per run after the first (against the first), the documents."""
    docs = [load_run(p) for p in paths]
    warnings, frames = [], []
    for path, doc in zip(paths[1:], docs[1:], strict=True):
        differences = fingerprint_differences(RunDocument.from_dict(docs[0]), RunDocument.from_dict(doc))
        warnings += [f"{path}: {note}" for note in differences]
        frames.append(compare_frame(docs[0], doc))
    return warnings, frames, docs
