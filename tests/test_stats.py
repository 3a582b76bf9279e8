"""The statistics checked against known answers: coverage, the paired test, Holm. No timing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench import stats

DISTRIBUTIONS = {
    # skewed and heavy-tailed, as throughput samples on a noisy machine are; true medians known
    "lognormal": (lambda rng, n: rng.lognormal(0.0, 1.0, n), 1.0),
    "student_t2": (lambda rng, n: 100.0 + rng.standard_t(2, n), 100.0),
    "pareto": (lambda rng, n: 1.0 + rng.pareto(1.5, n), 2 ** (1 / 1.5)),
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
@pytest.mark.parametrize("n", [3, 5, 6, 9, 12, 20])
def test_intervals_cover_the_true_median_at_their_stated_level(name, n):
    draw, true_median = DISTRIBUTIONS[name]
    rng = np.random.default_rng(n)
    draws = 2000
    covered, stated = 0, None
    for _ in range(draws):
        summary = stats.summarize(draw(rng, n))
        stated = summary.coverage
        covered += summary.low <= true_median <= summary.high
    assert covered / draws == pytest.approx(stated, abs=0.02)


@pytest.mark.parametrize("n, coverage", [(3, 0.75), (5, 0.9375), (6, 0.96875), (9, 1 - 2 * 10 / 512)])
def test_the_stated_coverage_is_the_binomial_one(n, coverage):
    summary = stats.summarize(list(range(n)))
    assert summary.coverage == pytest.approx(coverage)


def test_a_95_interval_is_the_narrowest_that_reaches_95():
    low, high, coverage = stats.order_interval(12)
    assert (low, high) == (2, 9) and coverage >= 0.95
    assert stats.symmetric_coverage(12, 3) < 0.95


def test_one_sample_has_no_interval():
    summary = stats.summarize([5.0])
    assert summary.median == 5.0 and summary.low is None and summary.coverage is None
    assert not summary.unstable
    assert stats.summarize([None, float("nan")]) is None


def test_unstable_is_read_from_the_interval():
    assert stats.summarize([90.0, 100.0, 100.0, 100.0, 100.0, 111.0]).unstable  # +-10.5%
    assert not stats.summarize([98.0, 99.0, 100.0, 100.0, 101.0, 102.0]).unstable


def test_paired_ratio_cancels_drift_between_rounds():
    """B is 10% slower than A in every round while the machine drifts 2x: paired, that is clear."""
    drift = [1.0, 0.6, 1.3, 0.5, 1.1, 0.8, 1.2, 0.7, 0.9]
    a = {r: 1000.0 * d for r, d in enumerate(drift)}
    b = {r: 900.0 * d for r, d in enumerate(drift)}
    (result,) = stats.finish_comparisons([stats.paired("b", "a", "train", b, a)])
    assert result.ratio == pytest.approx(0.9)
    assert result.verdict == "slower" and result.p_value == pytest.approx(2 / 2**9)
    assert result.text == "0.90× (0.90–0.90)"


def test_identical_pairs_are_within_noise():
    rng = np.random.default_rng(1)
    a = {r: float(v) for r, v in enumerate(rng.normal(1000, 50, 9))}
    (result,) = stats.finish_comparisons([stats.paired("a", "a", "train", a, a)])
    assert result.ratio == 1.0 and result.verdict == "within noise" and result.p_value == 1.0


def test_holm_adjusts_step_down():
    assert stats.holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert stats.holm([]) == []


def test_holm_makes_a_lone_round_pattern_insignificant_in_a_family():
    """Six rounds can give p = 2/64 = 0.031 at best: alone significant, one of seven not."""
    a = {r: 1000.0 for r in range(6)}
    b = {r: 800.0 + r for r in range(6)}
    alone = stats.finish_comparisons([stats.paired("b", "a", "train", b, a)])
    family = stats.finish_comparisons([stats.paired("b", "a", "train", b, a)] * 7)
    assert alone[0].verdict == "slower"
    assert {c.verdict for c in family} == {"too few rounds"}, "saying 'within noise' would claim a test"
    assert stats.min_rounds_for(7) == 9 and stats.min_rounds_for(1) == 6


def test_false_claims_between_identical_distributions_stay_near_alpha():
    """A/A on synthetic drifting data: the paired test's false-claim rate is at most alpha."""
    rng = np.random.default_rng(7)
    claims = 0
    for _ in range(400):
        drift = rng.lognormal(0, 0.3, 9)
        a = dict(enumerate(1000 * drift * rng.lognormal(0, 0.05, 9)))
        b = dict(enumerate(1000 * drift * rng.lognormal(0, 0.05, 9)))
        (result,) = stats.finish_comparisons([stats.paired("b", "a", "train", b, a)])
        claims += result.verdict != "within noise"
    assert claims / 400 <= 0.075


def test_unpaired_comparison_names_its_test():
    part = stats.unpaired("new", "old", "train", [100, 101, 99, 100], [80, 81, 79, 80])
    (result,) = stats.finish_comparisons([part])
    assert result.ratio == pytest.approx(100 / 80) and "Mann-Whitney" in result.test
    assert result.low < result.ratio < result.high


def test_calibration_ends_with_a_long_enough_sample_and_on_an_input_that_reads_nothing():
    """pyperf's calibration with a fake clock: each repeat costs 10 ms, 1 s, or nothing at all."""
    from bench.run.modes import CALIBRATION_MARGIN, calibrate

    tried = []

    def ten_ms_each(repeats):
        tried.append(repeats)
        return repeats * 0.010

    repeats, per_repeat = calibrate(ten_ms_each, min_sample_s=1.0)
    assert repeats * 0.010 >= 1.0 * CALIBRATION_MARGIN and per_repeat == pytest.approx(0.010)
    assert tried == sorted(tried) and len(tried) <= 4, "it jumps to what the last sample implies"
    assert tried[-1] == tried[-2], "the length is confirmed by a second sample"
    busy_first = iter([0.02, 0.02, 0.01, 0.01, 0.01])  # per repeat: slow while something else ran
    repeats, per_repeat = calibrate(lambda repeats: next(busy_first) * repeats, min_sample_s=1.0)
    assert (repeats, per_repeat) == (110, pytest.approx(0.01)), "a second sample caught the first one's luck"
    slow_once = iter([3.0, 1.0, 1.0, 1.0])  # per repeat: a first sample at 3x (seen on the 2-core VM)
    assert calibrate(lambda repeats: next(slow_once) * repeats, min_sample_s=1.0) == (2, 1.0), \
        "a first sample three times too slow does not fix one repeat: the second one shows it"
    assert calibrate(lambda repeats: 0.0, min_sample_s=1.0) == (1, 0.0)
    assert calibrate(lambda repeats: 1e-9, min_sample_s=1.0, limit=64)[0] == 64


@pytest.mark.parametrize("n", [3, 5, 8])
def test_the_accuracy_band_holds_one_more_draw_at_its_stated_coverage(n):
    """Known answer: for normal values, one more draw lands inside the band 95% of the time."""
    rng = np.random.default_rng(n)
    trials = 4000
    inside = 0
    for _ in range(trials):
        draws = rng.normal(0.93, 0.02, n + 1)
        band = stats.prediction_band(draws[:n])
        inside += band.place(float(draws[n])) == "inside"
    assert inside / trials == pytest.approx(0.95, abs=0.015)


@pytest.mark.parametrize("n", [3, 5, 8])
def test_the_loss_band_lets_one_correct_fit_in_a_hundred_above_it(n):
    """Known answer: at the loss band's coverage (98%), one more normal draw lands above it 1% of
    the time, the share of correct cells it flags (docs/method.md, "The accuracy band")."""
    from bench.results.analysis import LOSS_BAND_COVERAGE

    rng = np.random.default_rng(100 + n)
    trials = 8000
    above = 0
    for _ in range(trials):
        draws = rng.normal(0.25, 0.03, n + 1)
        band = stats.prediction_band(draws[:n], coverage=LOSS_BAND_COVERAGE, bounds=(0.0, math.inf))
        above += band.place(float(draws[n])) == "above"
    assert above / trials == pytest.approx((1 - LOSS_BAND_COVERAGE) / 2, abs=0.004)


def test_the_band_needs_three_values_keeps_its_bounds_and_its_floor():
    assert stats.prediction_band([0.9, 0.95]) is None
    band = stats.prediction_band([0.5, 0.5, 0.5], bounds=(0.0, 1.0), sd_floor=0.1)
    assert band.sd == 0.0 and band.low < 0.5 < band.high, "agreeing seeds do not make a band of zero width"
    assert stats.prediction_band([0.98, 0.99, 1.0], bounds=(0.0, 1.0)).high == 1.0
    assert [band.place(v) for v in (0.0, 0.5, None)] == ["below", "inside", None]
