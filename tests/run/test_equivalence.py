"""The equivalence check on real pipelines: four broken `--pipeline` functions are flagged, each
with its own reason, while every built-in variant and a correct user pipeline pass.

The files are 64 px and read at 32 px, so every variant resizes (else nearest-neighbour
resizing could not show in the pixels). One run holds all of them, in pipeline mode: the
check runs in each cell's set-up, whatever the modes.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.data.equivalence import DIFFERS, SAME, SHAPE_ONLY
from pipelines import REGISTRY
from tests.helpers.cli import run_cli

pytestmark = pytest.mark.slow

BROKEN = {"labels_swapped": "labels agree", "bgr": "channels swapped", "range_255": "values in",
          "nearest_resize": "nearest-neighbour resize"}


@pytest.fixture(scope="module")
def checked_run(tmp_path_factory, isolated_cache):
    from bench.data.dataset import EmbeddedDataset, ensure_embedded

    root = ensure_embedded(EmbeddedDataset(96, 32, 64, 3, seed=5))
    results = tmp_path_factory.mktemp("equivalence")
    pipelines = [f"--pipeline=plugins.broken_data:{name}" for name in (*BROKEN, "correct")]
    result = run_cli("run", "--data-dir", str(root / "train"), "--val-dir", str(root / "val"),
                     "--image-size", "32", "--preset", "quick", "--variants", ",".join(REGISTRY), *pipelines,
                     "--modes", "pipeline", "--trials", "1", "--min-sample-s", "0.05", "--batch-size", "16",
                     "--results-dir", str(results))
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = next(results.iterdir())
    cells = {c["variant"]: c for c in json.loads((run_dir / "results.json").read_text())["cells"]}
    return run_dir, cells


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_pipeline_is_flagged_with_its_reason_only(checked_run, name):
    _, cells = checked_run
    found = cells[f"custom:plugins.broken_data:{name}"]["equivalence"]
    assert found["verdict"] == DIFFERS, found
    assert len(found["reasons"]) == 1 and BROKEN[name] in found["reasons"][0], found["reasons"]


def test_every_built_in_variant_and_a_correct_pipeline_pass(checked_run):
    _, cells = checked_run
    for name, variant in REGISTRY.items():
        expected = SHAPE_ONLY if variant.augments_itself else SAME
        assert cells[name]["equivalence"]["verdict"] == expected, (name, cells[name]["equivalence"])
    assert cells["custom:plugins.broken_data:correct"]["equivalence"]["verdict"] == SAME


def test_csv_and_report_carry_the_check(checked_run):
    run_dir, _ = checked_run
    frame = pd.read_csv(run_dir / "results.csv")
    flagged = set(frame.loc[frame["data_check"] == DIFFERS, "variant"])
    assert flagged == {f"custom:plugins.broken_data:{name}" for name in BROKEN}
    compared = frame["data_check"] != SHAPE_ONLY
    assert frame.loc[compared, "data_mae"].notna().all() and frame.loc[~compared, "data_mae"].isna().all()
    html = (run_dir / "report.html").read_text()
    assert 'id="data-differs"' in html and "Data differs from the reference in 4 cell(s)" in html
