"""Sample length and rounds against interval width, from one saved run with long samples.

Run a preset once with many rounds and long samples, e.g.
`pipebench run --preset default --rounds 12 --min-sample-s 2`; this check reads its
`results.json` and asks, for the training mode: had the samples been shorter (the first
k steady-state epochs of each sample, a continuous window as the runner times it) and
the rounds fewer (the first n rounds), how wide would each cell's interval of the median
have been? It prints, per (window, n), the share of cells within the unstable line
(`bench.stats.UNSTABLE_HALF_WIDTH`) and the half-widths, and the run's wall time per
round, so that a preset's choice is read off one measurement rather than guessed. It
states no known answer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.errors import PipebenchError
from bench.results.document import load_run
from bench.results.records import CellResult, ModeRun
from bench.stats import UNSTABLE_HALF_WIDTH, summarize
from bench.validate.common import Finding

TINY: list[str] = []  # the test gives it a saved run
ROUNDS = (3, 6, 9, 12, 15, 18)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="a results/<run-id> folder")


def window_rate(run: ModeRun, epochs: int | None) -> float | None:
    """images/s of the first `epochs` steady-state epochs of one sample (None if too few);
    `epochs=None`: the whole sample, as the run timed it."""
    if epochs is None:
        return run.images_per_sec
    steady = [e for e in run.epochs if e["epoch"] > 1]  # epoch 1 is the untimed warm-up
    if len(steady) < epochs:
        return None
    picked = steady[:epochs]
    return sum(e["images"] for e in picked) / sum(e["train_s"] for e in picked)


def cell_rates(cells: list[CellResult], epochs: int | None) -> dict[str, list[float]]:
    rates = {}
    for cell in cells:
        values = [window_rate(r, epochs) for r in cell.runs_of("train")]
        if values and all(v is not None for v in values):
            rates[cell.cell.label] = values
    return rates


def round_seconds(cells: list[CellResult]) -> list[float]:
    starts: dict[int, list[float]] = {}
    for cell in cells:
        for r in cell.runs:
            if r.sample.started_unix is not None:
                starts.setdefault(r.round, []).append(r.sample.started_unix)
    return list(np.diff([min(starts[k]) for k in sorted(starts)]))


def width_table(cells: list[CellResult], per_epoch: dict[str, float], whole_s: float,
                most: int) -> list[dict]:
    """Per (steady-state epochs in the window, first n rounds): each cell's half-width (None where
    n is too few for an interval) and how many are within the unstable line."""
    table = []
    for epochs in [*sorted({1, 2, max(1, most // 2), most} - {0}), None]:
        rates = cell_rates(cells, epochs)
        if not rates:
            continue
        window = float(np.median([epochs * s for s in per_epoch.values()])) if epochs else whole_s
        total = min(len(v) for v in rates.values())
        for n in [k for k in ROUNDS if k <= total] or [total]:
            widths = sorted((summarize(v[:n]).half_width_fraction for v in rates.values()),
                            key=lambda w: (w is None, w or 0.0))
            table.append({"epochs": epochs, "window_s": window, "rounds": n, "cells": len(widths),
                          "within": sum(w is not None and w <= UNSTABLE_HALF_WIDTH for w in widths),
                          "half_widths": widths})
    return table


def run(args: argparse.Namespace, folder: Path) -> Finding:
    cells = [CellResult.from_dict(c) for c in load_run(args.run)["cells"]]
    trains = [r for c in cells for r in c.runs_of("train")]
    if not trains:
        raise PipebenchError(f"{args.run} has no training samples; valid: a run with --modes train")
    per_epoch = {c.cell.label: float(np.median([e["train_s"] for r in c.runs_of("train")
                                                for e in r.epochs if e["epoch"] > 1] or [np.nan]))
                 for c in cells if c.runs_of("train")}
    rounds = round_seconds(cells)
    lines = ["steady-state training epoch, median per cell: "
             + ", ".join(f"{k} {v:.2f} s" for k, v in per_epoch.items()),
             f"wall time per round: median {np.median(rounds) if rounds else float('nan'):.0f} s",
             "epochs  ~window  rounds  cells within the line  half-widths (%)"]
    most = min(len([e for e in r.epochs if e["epoch"] > 1]) for r in trains)
    whole = float(np.median([r.sample.seconds for r in trains if r.sample.seconds]))
    table = width_table(cells, per_epoch, whole, most)
    lines += [f"{row['epochs'] or 'all':>6}  {row['window_s']:6.2f} s  {row['rounds']:6d}  "
              f"{row['within']}/{row['cells']}{'':18s}"
              + ", ".join("no interval" if w is None else f"{100 * w:.1f}" for w in row["half_widths"])
              for row in table]
    figures = {"per_epoch_s": per_epoch, "round_s": rounds, "table": table}
    return Finding("tradeoff", None, tuple(lines), figures)
