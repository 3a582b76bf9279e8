"""Does a pipeline with 10% of its labels wrong fall outside the bands? Real runs, one per seed.

For each seed: `pipebench run --variants tf_data_tuned --pipeline PIPELINE --modes train
--seed S` (from `tests/`, where `plugins` imports), then the run's accuracy band and loss
band (`bench.results.analysis`) and where each cell lands in them. `--seed` changes the
generated images, the initial weights and the shuffle orders, so each run is a new draw
of everything the bands rest on. It holds when the faulty pipeline is called "learns
less" in every run, and `tf_data_tuned` never is.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.errors import PipebenchError
from bench.results.analysis import analyse
from bench.results.document import load_run
from bench.validate.common import TESTS, Finding, fraction, run_pipebench

TINY = ["--seeds", "0-0", "--", "--num-train", "48", "--num-val", "24", "--image-size", "32",
        "--source-size", "36,56", "--num-classes", "3", "--epochs", "1", "--rounds", "1",
        "--min-sample-s", "0.05", "--accuracy-epochs", "2", "--accuracy-seeds", "3"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", default="0-4", help="first-last, inclusive")
    parser.add_argument("--pipeline", default="plugins.broken_data:label_noise_10")
    parser.add_argument("extra", nargs="*", help="after --: more `pipebench run` arguments")


def seeds(raw: str) -> range:
    try:
        first, last = (int(v) for v in raw.split("-"))
    except ValueError:
        raise PipebenchError(f"--seeds {raw!r} is not FIRST-LAST; valid: e.g. 0-4") from None
    return range(first, last + 1)


def number(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"


def band_line(name: str, band) -> str:
    if band is None:
        return f"  no {name}"
    values = ", ".join(f"{v:.3f}" for v in band.values)
    return f"  {name} {band.low:.3f}-{band.high:.3f} ({band.coverage:.0%}) from {values}: sd {band.sd:.3f}"


def run(args: argparse.Namespace, folder: Path) -> Finding:
    lines, figures, caught = [], [], 0
    chosen = seeds(args.seeds)
    for seed in chosen:
        arguments = ["--variants", "tf_data_tuned", "--pipeline", args.pipeline, "--modes", "train",
                     "--seed", str(seed), *args.extra]
        run_dir = run_pipebench(folder / "runs", arguments, cwd=TESTS)
        analysis = analyse(load_run(run_dir))
        lines += [f"seed {seed} ({run_dir.name}):", band_line("accuracy band", analysis.band),
                  band_line("loss band", analysis.loss_band)]
        verdicts = {}
        for cell in analysis.cells:
            verdicts[cell.cell.variant] = cell.learns_less
            lines.append(f"  {cell.cell.label:45s} accuracy {number(cell.val_accuracy)} ({cell.vs_band}), "
                         f"loss {number(cell.val_loss)} ({cell.loss_vs_band})"
                         f"{'  -> learns less' if cell.learns_less else ''}")
        faulty = verdicts.get(f"custom:{args.pipeline}")
        caught += bool(faulty) and not verdicts.get("tf_data_tuned")
        figures.append({"seed": seed, "run": run_dir.name, "learns_less": verdicts})
    lines.append(f"the faulty pipeline caught, the reference not: {fraction(caught, len(chosen))} runs")
    return Finding("band", caught == len(chosen), tuple(lines), {"runs": figures})
