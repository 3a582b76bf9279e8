"""What the built-in variants deliver against the reference decoder: the basis of the
equivalence check's thresholds (docs/method.md, "Data equivalence").

Runs every registered variant in pipeline mode (the check runs in each cell's set-up)
on two datasets: the default preset's embedded one (files already at the target size)
and the same generator's images at 2x the target size (every variant resizes), then
prints each variant's matched share, label agreement, MAE and 99th-percentile error,
and the largest of each over the variants that are equivalent by construction.

    python docs/experiments/equivalence_calibration.py [--out results/equivalence-calibration]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def run(out: Path, extra: list[str]) -> list[dict]:
    from pipelines import REGISTRY

    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bench", "run", "--preset", "default", "--variants", ",".join(REGISTRY),
               "--modes", "pipeline", "--rounds", "1", "--min-sample-s", "0.05", "--results-dir", str(out),
               *extra]
    subprocess.run(command, check=True)
    doc = json.loads(sorted(out.glob("*/results.json"))[-1].read_text())
    return [c for c in doc["cells"] if c.get("equivalence")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/equivalence-calibration"))
    args = parser.parse_args(argv)
    from bench.config import PRESETS
    from bench.data.dataset import EmbeddedDataset, ensure_embedded

    preset = PRESETS["default"]
    big = ensure_embedded(EmbeddedDataset(preset.num_train, preset.num_val, 2 * preset.image_size,
                                          preset.num_classes))
    cases = {"embedded, no resize": [],
             f"{2 * preset.image_size} px files read at {preset.image_size} px":
                 ["--data-dir", str(big / "train"), "--val-dir", str(big / "val"),
                  "--image-size", str(preset.image_size)]}
    for name, extra in cases.items():
        cells = run(args.out / name.split(",")[0].split(" ")[0], extra)
        print(f"\n{name}")
        print(f"{'variant':30s} {'verdict':28s} matched  labels   MAE     p99")
        compared = []
        for cell in cells:
            found = cell["equivalence"]
            if found.get("mae") is None:
                print(f"{cell['variant']:30s} {found['verdict'][:28]:28s}")
                continue
            compared.append(found)
            print(f"{cell['variant']:30s} {found['verdict'][:28]:28s} {found['matched_share']:.3f}   "
                  f"{found['label_agreement']:.3f}   {found['mae']:.4f}  {found['p99_abs_error']:.3f}")
        if compared:
            print("worst: matched {:.3f}, labels {:.3f}, MAE {:.4f}, p99 {:.3f}".format(
                min(f["matched_share"] for f in compared), min(f["label_agreement"] for f in compared),
                max(f["mae"] for f in compared), max(f["p99_abs_error"] for f in compared)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
