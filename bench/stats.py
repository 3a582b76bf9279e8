"""Statistics of raw samples: medians with intervals that state their real coverage, paired
ratios per round, a paired rank test, and Holm's correction across the comparisons of a report.

Every figure pipebench prints comes from these functions, so the rules are the same for a run,
a comparison of runs, a stage profile's advice and a sweep:

* The interval of a median is the order-statistic (binomial) interval: distribution-free, and
  exact for any continuous distribution. With n samples only a few coverages are possible;
  the interval chosen is the narrowest symmetric one whose coverage reaches the level asked
  for, or, when n is too small for that, the full range, labelled with the coverage it has
  (75% at n=3). With n=1 there is no interval.
* A comparison is paired by round: rates measured in the same round are divided, so drift of
  the machine between rounds cancels. The ratio is the median of the per-round ratios, with
  the order-statistic interval of those ratios.
* The accuracy band is a normal prediction interval for one more fit of a correct pipeline,
  from the fits of the reference variant with n seeds: mean +- t(n-1) * sd * sqrt(1 + 1/n),
  sd never below the binomial noise of the validation set. Accuracy is an average over many
  validation images, so it is close to normal; with n < 3 there is no band.
* "Faster" and "slower" come from an exact two-sided Wilcoxon signed-rank test on the
  per-round log ratios, at alpha = 0.05 after Holm's step-down correction across all the
  comparisons shown together; everything else is "within noise".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05
TOO_FEW = "too few rounds"  # the verdict where the test could never reach significance
UNSTABLE_HALF_WIDTH = 0.05  # an interval wider than +-5% of its median is flagged unstable
PAIRED_TEST = "exact two-sided Wilcoxon signed-rank test on per-round log ratios, Holm-corrected, alpha 0.05"
UNPAIRED_TEST = "two-sided Mann-Whitney U test on the samples of the two runs, Holm-corrected, alpha 0.05"


def median_of(values) -> float | None:
    """The median of the values that are not None; None where none is."""
    present = [v for v in values if v is not None]
    return float(np.median(present)) if present else None


def clean(samples) -> np.ndarray:
    """The finite samples, sorted."""
    return np.sort(np.asarray([s for s in samples if s is not None and math.isfinite(s)], float))


def symmetric_coverage(n: int, k: int) -> float:
    """Coverage of [x(k+1), x(n-k)] (1-based order statistics) for the median of n samples."""
    return float(1.0 - 2.0 * stats.binom.cdf(k, n, 0.5))


def order_interval(n: int, confidence: float = CONFIDENCE) -> tuple[int, int, float]:
    """0-based indices (low, high) of the narrowest symmetric interval reaching `confidence`,
    and its coverage; the full range with its (lower) coverage when n is too small."""
    best = 0
    for k in range(n // 2):
        if symmetric_coverage(n, k) >= confidence:
            best = k
        else:
            break
    return best, n - 1 - best, symmetric_coverage(n, best)


@dataclass(frozen=True)
class Summary:
    """The median of raw samples with its order-statistic interval and that interval's coverage.

    `low`, `high` and `coverage` are None when n == 1: one sample has no interval.
    """

    n: int
    median: float
    low: float | None
    high: float | None
    coverage: float | None

    @property
    def half_width_fraction(self) -> float | None:
        if self.low is None or self.high is None or not self.median:
            return None
        return (self.high - self.low) / 2 / abs(self.median)

    @property
    def max_deviation_fraction(self) -> float | None:
        """The farther end of the interval from the median, as a fraction of it: "within ±5%"
        means this is at most 0.05."""
        if self.low is None or self.high is None or not self.median:
            return None
        return max(self.median - self.low, self.high - self.median) / abs(self.median)

    @property
    def unstable(self) -> bool:
        """True when the interval's half-width exceeds 5% of the median."""
        width = self.half_width_fraction
        return width is not None and width > UNSTABLE_HALF_WIDTH

    def to_dict(self) -> dict:
        return {"n": self.n, "median": self.median, "low": self.low, "high": self.high,
                "coverage": self.coverage}


def summarize(samples, confidence: float = CONFIDENCE) -> Summary | None:
    """Median of the finite samples with the order-statistic interval (see the module doc)."""
    values = clean(samples)
    n = len(values)
    if n == 0:
        return None
    median = float(np.median(values))
    if n == 1:
        return Summary(1, median, None, None, None)
    low, high, coverage = order_interval(n, confidence)
    return Summary(n, median, float(values[low]), float(values[high]), coverage)


@dataclass(frozen=True)
class Band:
    """Where one more draw of what `values` measured is expected to land, at `coverage`.

    `sd` is the values' own spread; `sd_floor` the least spread the width rests on (for an
    accuracy, the binomial noise of the validation set: seeds that agree by chance, as a few
    dozen images allow, do not make a band of zero width).
    """

    values: tuple[float, ...]
    mean: float
    sd: float
    sd_floor: float
    low: float
    high: float
    coverage: float

    def place(self, value: float | None) -> str | None:
        """"below", "inside" or "above" the band."""
        if value is None:
            return None
        return "below" if value < self.low else "above" if value > self.high else "inside"


def prediction_band(values, coverage: float = CONFIDENCE, bounds=(-math.inf, math.inf),
                    sd_floor: float = 0.0) -> Band | None:
    """The normal prediction interval for one more value (see the module doc), cut to `bounds`."""
    kept = clean(values)
    n = len(kept)
    if n < 3:
        return None
    mean, sd = float(np.mean(kept)), float(np.std(kept, ddof=1))
    half = float(stats.t.ppf((1 + coverage) / 2, n - 1)) * max(sd, sd_floor) * math.sqrt(1 + 1 / n)
    return Band(tuple(float(v) for v in values if v is not None and math.isfinite(v)), mean, sd, sd_floor,
                max(mean - half, bounds[0]), min(mean + half, bounds[1]), coverage)


def wilcoxon_p(log_ratios) -> float | None:
    """Exact two-sided Wilcoxon signed-rank p-value of per-round log ratios (None below 2 rounds).

    Rounds with a ratio of exactly 1 carry no sign and are dropped (Wilcoxon's rule);
    with every round at exactly 1 the two are identical and p = 1.
    """
    values = clean(log_ratios)
    if len(values) < 2:
        return None
    nonzero = values[values != 0.0]
    if len(nonzero) == 0:
        return 1.0
    if len(nonzero) == 1:
        return 1.0  # one informative round: the exact test's smallest p-value is 1
    method = "exact" if len(nonzero) <= 50 else "approx"
    return float(stats.wilcoxon(nonzero, alternative="two-sided", method=method).pvalue)


def mann_whitney_p(a, b) -> float | None:
    """Two-sided Mann-Whitney U p-value of two independent sets of samples."""
    a, b = clean(a), clean(b)
    if len(a) < 2 or len(b) < 2:
        return None
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (family-wise error at alpha); None stays None."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running, m = 0.0, len(present)
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def min_rounds_for(comparisons: int, alpha: float = ALPHA) -> int:
    """The fewest rounds with which the exact paired test can call any of `comparisons` significant
    after Holm's correction: the smallest two-sided p-value of n rounds is 2 / 2**n."""
    n = 2
    while 2.0 / 2**n >= alpha / max(comparisons, 1):
        n += 1
    return n


@dataclass(frozen=True)
class RatioFigures:
    """What every comparison of `subject` against `reference` has: its ratio, the ratio's
    interval and coverage, and the unadjusted p-value of its test over `n` samples."""

    subject: str
    reference: str
    mode: str
    n: int
    ratio: float | None
    low: float | None
    high: float | None
    coverage: float | None
    p_value: float | None


@dataclass(frozen=True)
class Comparison(RatioFigures):
    """One paired (or, across runs, unpaired) comparison: `subject` against `reference`.

    `ratio` is subject / reference: the median of the per-round ratios when paired,
    the ratio of medians otherwise; `verdict` is faster, slower or within noise, from
    the Holm-adjusted p-value. `rounds` lists the per-round ratios it came from.
    """

    p_adjusted: float | None
    verdict: str
    test: str
    rounds: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "rounds": list(self.rounds)}

    @property
    def text(self) -> str:
        """`1.42× (1.31–1.55)`, or the bare ratio without an interval."""
        if self.ratio is None:
            return "–"
        if self.low is None:
            return f"{self.ratio:.2f}×"
        return f"{self.ratio:.2f}× ({self.low:.2f}–{self.high:.2f})"


def per_round_ratios(subject: Mapping[int, float], reference: Mapping[int, float]) -> list[float]:
    """subject / reference for every round both have a positive value in."""
    rounds = sorted(r for r in subject if r in reference)
    return [subject[r] / reference[r] for r in rounds
            if subject[r] and reference[r] and subject[r] > 0 and reference[r] > 0]


@dataclass(frozen=True)
class ComparisonPart(RatioFigures):
    """A comparison before its family's correction: `finish_comparisons` turns a list of them
    into `Comparison`s. `min_p` is the smallest p-value its test can give with its `n`."""

    test: str
    min_p: float
    rounds: tuple[float, ...] = ()

    def ratio_only(self) -> Comparison:
        """The ratio and its interval, untested (`verdict` empty): for a figure outside any family."""
        return Comparison(self.subject, self.reference, self.mode, self.n, self.ratio, self.low, self.high,
                          self.coverage, p_value=None, p_adjusted=None, verdict="", test="ratio only",
                          rounds=self.rounds)


def paired(subject: str, reference: str, mode: str, a: Mapping[int, float],
           b: Mapping[int, float]) -> ComparisonPart:
    """The unadjusted parts of a paired comparison (finish with `finish_comparisons`)."""
    ratios = per_round_ratios(a, b)
    summary = summarize(ratios)
    return ComparisonPart(
        subject=subject, reference=reference, mode=mode, n=len(ratios),
        min_p=2.0 / 2 ** len(ratios) if ratios else 1.0,  # the exact test's smallest two-sided p
        ratio=summary.median if summary else None,
        low=summary.low if summary else None, high=summary.high if summary else None,
        coverage=summary.coverage if summary else None,
        p_value=wilcoxon_p(np.log(ratios)) if ratios else None, test=PAIRED_TEST, rounds=tuple(ratios))


def unpaired(subject: str, reference: str, mode: str, a, b) -> ComparisonPart:
    """Across separate runs: ratio of medians, a percentile-bootstrap interval, Mann-Whitney U."""
    a, b = clean(a), clean(b)
    if not len(a) or not len(b):
        return ComparisonPart(subject, reference, mode, n=0, ratio=None, low=None, high=None, coverage=None,
                              p_value=None, test=UNPAIRED_TEST, min_p=1.0)
    ratio = float(np.median(a) / np.median(b))
    low = high = coverage = None
    if len(a) > 1 and len(b) > 1:
        rng = np.random.default_rng(0)
        boot = [np.median(rng.choice(a, len(a))) / np.median(rng.choice(b, len(b))) for _ in range(2000)]
        low, high = (float(v) for v in np.percentile(boot, [2.5, 97.5]))
        coverage = CONFIDENCE  # nominal: a percentile bootstrap, not an exact interval
    return ComparisonPart(subject, reference, mode, n=min(len(a), len(b)),
                          min_p=min(1.0, 2.0 / math.comb(len(a) + len(b), len(a))),  # exact, no ties
                          ratio=ratio, low=low, high=high, coverage=coverage,
                          p_value=mann_whitney_p(a, b), test=UNPAIRED_TEST + " (bootstrap interval)")


SPEED_WORDS = ("faster", "slower")  # ratio > 1, ratio < 1: of rates
COST_WORDS = ("costs more", "costs less")  # of CPU time per image


def finish_comparisons(parts: list[ComparisonPart], alpha: float = ALPHA, words: tuple[str, str] = SPEED_WORDS
                       ) -> list[Comparison]:
    """Holm-adjust the family's p-values and give each comparison its verdict.

    faster / slower (`words`: costs more / costs less, for CPU time) where the adjusted p is
    under alpha; "too few rounds" where even the smallest p-value the test can give with this
    many samples could not pass Holm's first step in a family of this size (so "within noise"
    would claim what was never testable); otherwise "within noise".
    """
    adjusted = holm([p.p_value for p in parts])
    family = sum(p.p_value is not None for p in parts)
    done = []
    for part, p_adj in zip(parts, adjusted, strict=True):
        if p_adj is not None and p_adj < alpha and part.ratio is not None and part.ratio != 1.0:
            verdict = words[0] if part.ratio > 1.0 else words[1]
        elif part.min_p * max(family, 1) >= alpha:
            verdict = TOO_FEW
        else:
            verdict = "within noise"
        done.append(Comparison(part.subject, part.reference, part.mode, part.n, part.ratio, part.low,
                               part.high, part.coverage, p_value=part.p_value, p_adjusted=p_adj,
                               verdict=verdict, test=part.test, rounds=part.rounds))
    return done
