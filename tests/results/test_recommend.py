"""The report's recommendation: the set of accurate cells the paired test cannot call slower."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.report import cell_summary, recommend
from bench.results.table import run_row


def cell(variant: str, rates: list[float], accuracy: float = 0.9, status: str = "ok") -> dict:
    """A stored cell with one train run per round, each validated to `accuracy`."""
    runs = [{"mode": "train", "round": r, "status": "ok", "images_per_sec": rate,
             "epochs": [{"epoch": 1, "images": 10, "train_s": 1.0, "val_accuracy": accuracy}]}
            for r, rate in enumerate(rates)]
    return {"variant": variant, "precision": "float32", "augmentation": "none", "status": status,
            "runs": runs if status == "ok" else []}


def pick_of(*cells: dict, num_val: int = 240) -> dict | None:
    rows, analysis = cell_summary({"cells": list(cells), "target_accuracy": None, "config": {},
                                   "dataset": {"num_val": num_val}})
    return recommend(rows, analysis)


DRIFT = [1.0, 0.7, 1.2, 0.8, 1.1, 0.9, 1.3, 0.6, 1.05]  # the machine's speed in each of 9 rounds


def test_the_set_holds_every_cell_not_significantly_slower_than_the_fastest():
    fastest = cell("fast", [1000 * d for d in DRIFT])
    tied = cell("tied", [1000 * d * (1.02 if r % 2 else 0.97) for r, d in enumerate(DRIFT)])
    slower = cell("slow", [800 * d for d in DRIFT])  # 20% slower in every round
    pick = pick_of(fastest, tied, slower)
    assert [m["row"]["variant"] for m in pick["members"]] == ["fast", "tied"]
    assert [p["row"]["variant"] for p in pick["slower"]] == ["slow"]
    assert pick["slower"][0]["comparison"].ratio == 0.8
    assert "Wilcoxon" in pick["test"]


def test_drift_that_reorders_medians_does_not_split_a_paired_tie():
    """Unpaired, 'lucky' looks faster (its median is higher); paired by round they are the same speed."""
    lucky = cell("lucky", [1000 * d for d in DRIFT])
    steady = cell("steady", [1000 * d * (1.01 if r % 2 else 0.99) for r, d in enumerate(DRIFT)])
    pick = pick_of(lucky, steady)
    assert {m["row"]["variant"] for m in pick["members"]} == {"lucky", "steady"}


def test_a_faster_cell_that_learns_measurably_worse_is_not_recommended():
    fast_but_worse = cell("worse", [2000 * d for d in DRIFT], accuracy=0.5)
    good = cell("good", [1000 * d for d in DRIFT], accuracy=0.9)
    pick = pick_of(fast_but_worse, good)
    assert [m["row"]["variant"] for m in pick["members"]] == ["good"]
    assert [r["variant"] for r in pick["excluded"]] == ["worse"]
    assert pick["fastest"]["vs_fastest"] is None and pick["fastest"]["variant"] == "good"
    assert 0 < pick["noise"] < 0.4


def test_one_round_gives_no_claim_and_failed_cells_never_win():
    one, other = cell("one", [800.0]), cell("other", [900.0])
    failed = cell("failed", [5000.0], status="failed")
    pick = pick_of(one, other, failed)
    assert [m["row"]["variant"] for m in pick["members"]] == ["other", "one"]  # untestable: not slower
    assert pick_of(failed) is None


def test_the_table_and_the_headline_read_one_family_of_tests():
    """The baseline column is a paired ratio without a test; verdicts are against the fastest only."""
    base = cell("image_data_generator", [800 * d for d in DRIFT])
    fast = cell("fast", [1000 * d for d in DRIFT])
    rows, analysis = cell_summary({"cells": [base, fast], "target_accuracy": None, "config": {},
                                   "dataset": {"num_val": 240}})
    by_variant = {r["variant"]: r for r in rows}
    assert by_variant["fast"]["speedup"] == 1.25 and by_variant["fast"]["stats"].vs_baseline.verdict == ""
    assert by_variant["image_data_generator"]["vs_fastest"].verdict == "slower"
    assert analysis.fastest.cell.variant == "fast"


def test_a_faster_cell_whose_data_differ_is_never_recommended():
    from bench.data.equivalence import DIFFERS, SAME, Equivalence

    def checked(record: dict, verdict: str, reasons: tuple[str, ...] = ()) -> dict:
        high = 1.0 if verdict == SAME else 255.0
        found = Equivalence(verdict, reasons, 640, "float32", (40, 40, 3), 0.0, high)
        return {**record, "equivalence": found.to_dict()}

    wrong = checked(cell("wrong", [3000 * d for d in DRIFT]), DIFFERS, ("values in [0, 255]",))
    right = checked(cell("right", [1000 * d for d in DRIFT]), SAME)
    rows, analysis = cell_summary({"cells": [wrong, right], "target_accuracy": None, "config": {},
                                   "dataset": {"num_val": 240}})
    pick = recommend(rows, analysis)
    assert [m["row"]["variant"] for m in pick["members"]] == ["right"]
    assert [r["variant"] for r in pick["data_differs"]] == ["wrong"] and pick["excluded"] == []
    assert analysis.fastest.cell.variant == "right"


def fitted(record: dict, *accuracies: float, curve=(0.5, 0.8), losses=()) -> dict:
    """`record` with accuracy fits ending at each of `accuracies` (the first: the cell's own),
    48 images per epoch, and at each of `losses` where given."""
    fits = [{"seed": i, "epochs": len(curve) + 1, "images_per_epoch": 48, "val_accuracy": [*curve, a]}
            for i, a in enumerate(accuracies)]
    for fit, loss in zip(fits, losses, strict=False):
        fit["val_loss"] = [1.5, 0.9, loss]
    return {**record, "accuracy_fits": fits}


def test_with_an_accuracy_band_a_faster_cell_below_it_is_not_recommended():
    """The band: the reference variant's seeds; a cell below it is excluded however fast."""
    reference = fitted(cell("tf_data_tuned", [1000 * d for d in DRIFT]), 0.93, 0.91, 0.95, 0.92, 0.94)
    noisy = fitted(cell("noisy", [1500 * d for d in DRIFT]), 0.83)
    alike = fitted(cell("alike", [900 * d for d in DRIFT]), 0.92)
    rows, analysis = cell_summary({"cells": [reference, noisy, alike], "target_accuracy": 0.85, "config": {},
                                   "dataset": {"num_val": 240}})
    band = analysis.band
    assert band.values == (0.93, 0.91, 0.95, 0.92, 0.94) and band.low < 0.91 and band.high > 0.95
    by_variant = {r["variant"]: r for r in rows}
    places = [by_variant[v]["vs_band"] for v in ("tf_data_tuned", "noisy", "alike")]
    assert places == ["inside", "below", "inside"]
    pick = recommend(rows, analysis)
    assert pick["fastest"]["variant"] == "tf_data_tuned" and pick["band"] is band
    assert [r["variant"] for r in pick["excluded"]] == ["noisy"]


def test_time_to_accuracy_is_the_fit_epochs_at_the_timed_rate():
    """Epochs the accuracy fit needed to reach the target, times the epoch at the median timed rate."""
    record = fitted(cell("one", [480.0, 480.0, 480.0]), 0.9, curve=(0.5, 0.8))

    def row(target: float) -> dict:
        rows, _ = cell_summary({"cells": [record], "target_accuracy": target, "config": {},
                                "dataset": {"num_val": 240}})
        return rows[0]

    reached = row(0.75)
    assert reached["epochs_to_target"] == 2 and reached["time_to_accuracy_s"] == pytest.approx(2 * 48 / 480.0)
    assert reached["val_accuracy"] == 0.9
    assert reached["vs_band"] is None, "no band without the reference's seeds"
    rows = [row(0.95)]
    assert rows[0]["epochs_to_target"] is None and rows[0]["time_to_accuracy_s"] is None


def test_a_cell_inside_the_accuracy_band_but_above_the_loss_band_is_not_recommended():
    """Wrong labels that a converged fit's argmax hides still raise its loss: that cell learns less."""
    seeds = (0.93, 0.91, 0.95, 0.92, 0.94)
    reference = fitted(cell("tf_data_tuned", [1000 * d for d in DRIFT]), *seeds,
                       losses=(0.27, 0.31, 0.24, 0.29, 0.26))
    noisy = fitted(cell("noisy", [1500 * d for d in DRIFT]), 0.93, losses=(0.64,))
    alike = fitted(cell("alike", [900 * d for d in DRIFT]), 0.92, losses=(0.30,))
    doc = {"cells": [reference, noisy, alike], "target_accuracy": 0.85, "config": {},
           "dataset": {"num_val": 240}}
    rows, analysis = cell_summary(doc)
    losses = analysis.loss_band
    assert losses.values == (0.27, 0.31, 0.24, 0.29, 0.26) and losses.low < 0.24 and 0.31 < losses.high < 0.64
    by_variant = {r["variant"]: r for r in rows}
    assert [by_variant[v]["vs_band"] for v in ("tf_data_tuned", "noisy", "alike")] == ["inside"] * 3
    assert [by_variant[v]["loss_vs_band"] for v in ("tf_data_tuned", "noisy", "alike")] == \
        ["inside", "above", "inside"]
    assert [by_variant[v]["learns_less"] for v in ("tf_data_tuned", "noisy", "alike")] == [False, True, False]
    pick = recommend(rows, analysis)
    assert pick["fastest"]["variant"] == "tf_data_tuned" and pick["loss_band"] is losses
    assert [r["variant"] for r in pick["excluded"]] == ["noisy"]
    frame = pd.DataFrame([run_row(c, r, 0.85, analysis) for c in analysis.cells for r in c.result.runs])
    train = frame[frame["mode"] == "train"].drop_duplicates("variant").set_index("variant")
    assert train.loc["noisy", "loss_vs_band"] == "above" and train.loc["noisy", "val_loss"] == 0.64
    assert train.loc["alike", "loss_band_high"] == losses.high


def test_runs_without_losses_have_no_loss_band():
    """Runs from before the loss was kept: the accuracy band alone decides, as it did."""
    reference = fitted(cell("tf_data_tuned", [1000 * d for d in DRIFT]), 0.93, 0.91, 0.95, 0.92, 0.94)
    rows, analysis = cell_summary({"cells": [reference], "target_accuracy": 0.85, "config": {},
                                   "dataset": {"num_val": 240}})
    assert analysis.loss_band is None and analysis.band is not None
    assert rows[0]["val_loss"] is None and rows[0]["loss_vs_band"] is None and not rows[0]["learns_less"]


def no_training_cell(variant: str, rates: list[float]) -> dict:
    """A stored cell of a `--modes pipeline,simulated` run: simulated rates per round, no training."""
    runs = [{"mode": mode, "round": r, "status": "ok", "images_per_sec": rate * factor,
             "au": min(rate / 1000.0, 1.0) if mode == "simulated" else None,
             "epochs": [{"epoch": 1, "images": 10, "train_s": 1.0}]}
            for r, rate in enumerate(rates) for mode, factor in (("simulated", 1.0), ("pipeline", 3.0))]
    return {"variant": variant, "precision": "float32", "augmentation": "none", "status": "ok", "runs": runs}


def test_without_training_the_simulated_accelerator_decides():
    """A GPU user on a CPU-only box runs pipeline and simulated modes: they still get an answer,
    from the same paired test, and the report says what it rests on."""
    fast = no_training_cell("fast", [950 * d for d in DRIFT])
    tied = no_training_cell("tied", [950 * d * (1.02 if r % 2 else 0.97) for r, d in enumerate(DRIFT)])
    slow = no_training_cell("image_data_generator", [480 * d for d in DRIFT])
    doc = {"cells": [fast, tied, slow], "target_accuracy": None,
           "config": {"batch_size": 32, "step_s": 0.032}, "dataset": {"num_val": 240}}
    rows, analysis = cell_summary(doc)
    pick = recommend(rows, analysis)
    assert analysis.mode == "simulated"
    assert [m["row"]["variant"] for m in pick["members"]] == ["fast", "tied"]
    assert [p["row"]["variant"] for p in pick["slower"]] == ["image_data_generator"]
    assert pick["slower"][0]["comparison"].mode == "simulated"
    by_variant = {r["variant"]: r for r in rows}
    assert by_variant["fast"]["speedup"] == pytest.approx(950 / 480, rel=1e-3)


def test_with_the_pipeline_alone_the_pipeline_decides():
    cells = [{**no_training_cell(v, [r * d for d in DRIFT]),
              "runs": [run for run in no_training_cell(v, [r * d for d in DRIFT])["runs"]
                       if run["mode"] == "pipeline"]} for v, r in (("a", 1000), ("b", 500))]
    rows, analysis = cell_summary({"cells": cells, "target_accuracy": None, "config": {},
                                   "dataset": {"num_val": 240}})
    assert analysis.mode == "pipeline" and analysis.fastest.cell.variant == "a"
    assert recommend(rows, analysis)["slower"][0]["row"]["variant"] == "b"


def test_an_augmented_cell_is_judged_against_its_augmentations_band():
    """Augmentation changes what a correct pipeline learns: with the reference fitted augmented too,
    an augmented cell is placed in that band, not in the unaugmented one (where it would be below)."""
    def augmented(record: dict, augmentation: str) -> dict:
        return {**record, "augmentation": augmentation}

    plain = fitted(cell("tf_data_tuned", [1000 * d for d in DRIFT]), 0.93, 0.91, 0.95, 0.92, 0.94)
    reference_aug = augmented(fitted(cell("tf_data_tuned", [800 * d for d in DRIFT]),
                                     0.80, 0.82, 0.79, 0.81, 0.83), "tf_image")
    other_aug = augmented(fitted(cell("generator", [500 * d for d in DRIFT]), 0.81), "tf_image")
    unmatched = augmented(fitted(cell("generator", [500 * d for d in DRIFT]), 0.81), "numpy_pyfunc")
    rows, analysis = cell_summary({"cells": [plain, reference_aug, other_aug, unmatched],
                                   "target_accuracy": None, "config": {}, "dataset": {"num_val": 240}})
    by_label = {(r["variant"], r["augmentation"]): r["stats"] for r in rows}
    assert analysis.band.values == (0.93, 0.91, 0.95, 0.92, 0.94)
    assert analysis.augmented_bands["tf_image"].values == (0.80, 0.82, 0.79, 0.81, 0.83)
    assert by_label[("generator", "tf_image")].vs_band == "inside"
    assert by_label[("generator", "tf_image")].band_of == "tf_image"
    assert by_label[("generator", "numpy_pyfunc")].band_of == "none"  # no band of its own: the plain one
    assert by_label[("generator", "numpy_pyfunc")].vs_band == "below"
