"""Sample length and rounds against interval width, from one run with long samples.

Run the default preset once with many rounds and long samples, e.g.

    pipebench run --preset default --rounds 12 --min-sample-s 2

then this script reads its `results.json` and asks, for the training mode: had the
samples been shorter (the first k steady-state epochs of each sample, a continuous
window as the runner times it) and the rounds fewer (the first n rounds), how wide
would each cell's 95% interval of the median have been? It prints, per (window, n),
the share of cells within +-5% and the half-widths, and the run's per-round wall time,
so that the preset's choice can be read off one measurement rather than guessed.

    python tools/tradeoff.py results/<run>/results.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.stats import UNSTABLE_HALF_WIDTH, summarize


def windows(run: dict, epochs: int | None) -> float | None:
    """images/s of the first `epochs` steady-state epochs of one train sample (None if too few);
    `epochs=None`: the whole sample, as the run timed it."""
    if epochs is None:
        return run["images_per_sec"]
    steady = [e for e in run["epochs"] if e["epoch"] > 1]  # epoch 1 is the untimed warm-up
    if len(steady) < epochs:
        return None
    picked = steady[:epochs]
    return sum(e["images"] for e in picked) / sum(e["train_s"] for e in picked)


def cell_rates(doc: dict, epochs: int | None) -> dict[str, list[float]]:
    rates = {}
    for cell in doc["cells"]:
        runs = sorted((r for r in cell["runs"] if r["mode"] == "train" and r["status"] == "ok"),
                      key=lambda r: r["round"])
        values = [windows(r, epochs) for r in runs]
        if runs and all(v is not None for v in values):
            rates[cell["variant"] + " " + " ".join(cell.get("options", []))] = values
    return rates


def epoch_seconds(doc: dict) -> dict[str, float]:
    """Median seconds of one steady-state training epoch, per cell."""
    out = {}
    for cell in doc["cells"]:
        times = [e["train_s"] for r in cell["runs"] if r["mode"] == "train" and r["status"] == "ok"
                 for e in r["epochs"] if e["epoch"] > 1]
        if times:
            out[cell["variant"]] = float(np.median(times))
    return out


def round_seconds(doc: dict) -> list[float]:
    starts = {}
    for cell in doc["cells"]:
        for r in cell["runs"]:
            starts.setdefault(r["round"], []).append(r["started_unix"])
    firsts = [min(starts[k]) for k in sorted(starts)]
    return list(np.diff(firsts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    args = parser.parse_args(argv)
    doc = json.loads(args.results.read_text())
    per_epoch = epoch_seconds(doc)
    print("steady-state training epoch, median per cell: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in per_epoch.items()))
    rounds = round_seconds(doc)
    print(f"wall time per round: median {np.median(rounds):.0f} s ({len(rounds) + 1} rounds)")
    most = min(len([e for e in r["epochs"] if e["epoch"] > 1]) for c in doc["cells"] for r in c["runs"]
               if r["mode"] == "train" and r["status"] == "ok")
    print("epochs  ~window  rounds  cells within +-5%  half-widths (%)")
    whole = np.median([r["seconds"] for c in doc["cells"] for r in c["runs"] if r["mode"] == "train"
                       and r["status"] == "ok"])
    for epochs in [*sorted({1, 2, max(1, most // 2), most}), None]:
        rates = cell_rates(doc, epochs)
        window = np.median([epochs * s for s in per_epoch.values()]) if epochs else whole
        total = len(next(iter(rates.values())))
        for n in (6, 9, 12, 15, 18):
            if n > total:
                continue
            widths = [summarize(v[:n]).half_width_fraction for v in rates.values()]
            within = sum(w <= UNSTABLE_HALF_WIDTH for w in widths)
            print(f"{epochs or 'all':>6}  {window:6.2f} s  {n:6d}  {within}/{len(widths)}"
                  f"{'':14s}{', '.join(f'{100 * w:.1f}' for w in sorted(widths))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
