"""The report's recommendation: reliable speed among the cells that learn as well as the best."""

from __future__ import annotations

from bench.report import recommend


def row(variant, median, low=None, high=None, accuracy=0.9, status="ok") -> dict:
    return {"variant": variant, "label": variant, "status": status, "images_per_sec": median,
            "ci_low": low, "ci_high": high, "val_accuracy": accuracy,
            "precision": "float32", "augmentation": "none"}


def test_the_pick_is_the_highest_lower_bound_not_the_luckiest_median():
    lucky = row("lucky", 1012, 611, 1027)
    steady = row("steady", 948, 869, 964)
    slow = row("slow", 700, 690, 720)
    pick = recommend([lucky, steady, slow], num_val=240)
    assert pick["row"] is steady
    assert pick["tied"] == [lucky], "overlapping intervals are tied; a disjoint slower one is not"


def test_a_faster_cell_that_learns_measurably_worse_is_not_recommended():
    fast_but_worse = row("worse", 2000, 1900, 2100, accuracy=0.5)
    good = row("good", 1000, 950, 1050, accuracy=0.9)
    pick = recommend([fast_but_worse, good], num_val=240)
    assert pick["row"] is good and pick["tied"] == []
    assert 0 < pick["noise"] < 0.4


def test_without_intervals_the_medians_decide_and_failed_cells_never_win():
    one_trial = row("one", 800)
    other = row("other", 900)
    failed = row("failed", 5000, status="failed")
    pick = recommend([one_trial, other, failed], num_val=100)
    assert pick["row"] is other and pick["tied"] == []
    assert recommend([failed], num_val=100) is None
