"""Does a pipeline with 10% of its labels wrong fall outside the bands? Real runs, one per seed.

    python tools/band_check.py [--seeds 0-4] [--pipeline plugins.broken_data:label_noise_10]
                               [-- more pipebench run arguments]

For each seed: `pipebench run --variants tf_data_tuned --pipeline PIPELINE --modes train
--seed S` on the default preset (from `tests/`, where `plugins` imports), then the run's
accuracy band and loss band (`bench.results.analysis`) and where each cell lands in them. `--seed`
changes the generated images, the initial weights and the shuffle orders, so each run is a
new draw of everything the bands rest on. Used for docs/method.md, "The accuracy band".
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def one_run(seed: int, pipeline: str, extra: list[str]) -> Path:
    """The results folder of one real run with this seed."""
    results = Path(tempfile.mkdtemp(prefix=f"band-check-{seed}-"))
    command = [sys.executable, "-m", "bench", "run", "--variants", "tf_data_tuned", "--pipeline", pipeline,
               "--modes", "train", "--seed", str(seed), "--results-dir", str(results), *extra]
    done = subprocess.run(command, cwd=ROOT / "tests", capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"})
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SystemExit(f"seed {seed}: pipebench run failed (status {done.returncode}): {last}")
    return next(results.iterdir())


def describe(run_dir: Path) -> list[str]:
    """The bands, the reference's fits and each cell's place, as printable lines."""
    from bench.results.analysis import analyse
    from bench.results.document import load_run

    analysis = analyse(load_run(run_dir))
    band, losses = analysis.band, analysis.loss_band
    lines = [band_line("accuracy band", band) + (f", floor {band.sd_floor:.3f}" if band else ""),
             band_line("loss band", losses)]
    for cell in analysis.cells:
        lines.append(f"  {cell.cell.label:45s} accuracy {number(cell.val_accuracy)} ({cell.vs_band}), "
                     f"loss {number(cell.val_loss)} ({cell.loss_vs_band})"
                     f"{'  -> learns less' if cell.learns_less else ''}")
    return lines


def number(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"


def band_line(name: str, band) -> str:
    if band is None:
        return f"  no {name}"
    values = ", ".join(f"{v:.3f}" for v in band.values)
    return f"  {name} {band.low:.3f}-{band.high:.3f} ({band.coverage:.0%}) from {values}: sd {band.sd:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-4", help="first-last, inclusive")
    parser.add_argument("--pipeline", default="plugins.broken_data:label_noise_10")
    parser.add_argument("extra", nargs="*", help="after --: more `pipebench run` arguments")
    args = parser.parse_args()
    first, last = (int(v) for v in args.seeds.split("-"))
    for seed in range(first, last + 1):
        started = time.perf_counter()
        run_dir = one_run(seed, args.pipeline, args.extra)
        print(f"seed {seed} ({time.perf_counter() - started:.0f} s, {run_dir}):", flush=True)
        print("\n".join(describe(run_dir)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
