"""Statistics for small evaluation sets: confidence intervals, paired comparisons, multiple comparisons.

Evaluation sets are small (6 to 30 cases), so intervals must hold their level at small n. A percentile
bootstrap does not: simulated, it covers 0.80 of the time at n = 4, 0.88 at n = 6, 0.90 at n = 10. The
intervals here are **Student-t intervals** of the mean over cases (the unit that was sampled; repeats of one
case are averaged first by the callers): exact for normal data, and in simulation (``tests/evaluation/
test_stats.py``) 0.93-0.97 at n = 6, 10 and 30 for normal values and for bounded, skewed scores like ROUGE
(Beta(5, 2)). They are too narrow for heavy-tailed values (exponential: 0.89 at n = 6), such as costs,
which the report therefore gives without intervals. :func:`bootstrap_ci` (percentile) stays for callers with
large n.

Two prompt versions run on the same cases are compared case by case: the t interval of the mean difference,
the Wilcoxon signed-rank test (SciPy; exact at small n) and the count of cases won, tied and lost. A report
makes many such comparisons (metrics x prompt pairs x models x sources), so its p values are adjusted with
the Benjamini-Hochberg procedure (:func:`adjust_p_values`, SciPy's ``false_discovery_control``), and a
candidate is "better" only when the interval excludes 0 in the metric's good direction **and** the adjusted
p is below 0.05 (:func:`is_better`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

logger = logging.getLogger(__name__)

N_BOOTSTRAP = 2000
"""Bootstrap resamples (enough for stable 95% percentile intervals)."""
INTERVAL_METHOD = "Student t"
"""How :func:`mean_ci` and :func:`paired_comparison` make their intervals (named in reports)."""
CORRECTION = "Benjamini-Hochberg"
"""How :func:`adjust_p_values` adjusts a report's p values (named in reports)."""
ALPHA = 0.05
"""Level of the adjusted test behind "better"."""


@dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap confidence interval.

    Attributes
    ----------
    mean : float
    low, high : float
        Interval bounds; NaN with fewer than two values.
    n : int
        Values used (NaN values are dropped).
    """

    mean: float
    low: float
    high: float
    n: int


def _clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[~np.isnan(array)]


def mean_ci(values: Sequence[float] | np.ndarray, *, confidence: float = 0.95) -> Interval:
    """Mean of ``values`` and its Student-t confidence interval (``mean ± t(n-1) · s / √n``).

    Parameters
    ----------
    values
        One value per case (NaN values are ignored).
    confidence
        Interval coverage, in (0, 1).

    Returns
    -------
    Interval
        NaN mean with no values; NaN bounds with one value; a zero-width interval when all values agree.

    Raises
    ------
    ValueError
        If ``confidence`` is not in (0, 1).
    """
    from scipy.stats import t

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    data = _clean(values)
    if data.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(data.mean())
    if data.size == 1:
        return Interval(mean, math.nan, math.nan, 1)
    half = float(t.ppf(0.5 + confidence / 2, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size))
    return Interval(mean, mean - half, mean + half, int(data.size))


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_boot: int = N_BOOTSTRAP,
    seed: int = 0,
) -> Interval:
    """Mean of ``values`` and its percentile-bootstrap confidence interval.

    Covers less than ``confidence`` at small n (0.88 at n = 6 for 95 %): tables use :func:`mean_ci`.

    Parameters
    ----------
    values
        One value per case (NaN values are ignored).
    confidence
        Interval coverage, in (0, 1).
    n_boot
        Resamples.
    seed
        Seed of the resampling, so tables are reproducible.

    Returns
    -------
    Interval
        NaN mean with no values; NaN bounds with one value.

    Raises
    ------
    ValueError
        If ``confidence`` is not in (0, 1) or ``n_boot`` < 1.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    data = _clean(values)
    if data.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(data.mean())
    if data.size == 1:
        return Interval(mean, math.nan, math.nan, 1)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_boot, data.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Interval(mean, float(low), float(high), int(data.size))


@dataclass(frozen=True)
class PairedComparison:
    """Candidate minus baseline, case by case.

    Attributes
    ----------
    n : int
        Cases with a value on both sides.
    mean_diff, low, high : float
        Mean difference (candidate - baseline) and its Student-t interval.
    p_value : float
        Two-sided Wilcoxon signed-rank p (1.0 when every difference is zero; NaN with fewer than two cases).
    wins, ties, losses : int
        Cases where the candidate is higher, equal (within ``tie_tolerance``), lower.
    """

    n: int
    mean_diff: float
    low: float
    high: float
    p_value: float
    wins: int
    ties: int
    losses: int

    def to_dict(self) -> dict[str, float | int]:
        """The fields as a dict (a table row)."""
        return asdict(self)


def paired_comparison(
    candidate: Sequence[float] | np.ndarray,
    baseline: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_boot: int = N_BOOTSTRAP,
    seed: int = 0,
    tie_tolerance: float = 1e-9,
) -> PairedComparison:
    """Compare two systems on the same cases.

    Parameters
    ----------
    candidate, baseline
        One value per case, aligned (same case at the same index). Pairs with a NaN on either side are
        dropped.
    confidence
        As in :func:`mean_ci`, applied to the differences.
    n_boot, seed
        Unused (the interval is a t interval); kept for callers of the bootstrap version.
    tie_tolerance
        Differences at most this large count as ties (and as zero for the Wilcoxon test).

    Returns
    -------
    PairedComparison

    Raises
    ------
    ValueError
        If the two sequences differ in length.
    """
    from scipy.stats import wilcoxon

    a = np.asarray(candidate, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values must align case by case; got {a.size} and {b.size} values")
    keep = ~(np.isnan(a) | np.isnan(b))
    diff = a[keep] - b[keep]
    diff[np.abs(diff) <= tie_tolerance] = 0.0
    interval = mean_ci(diff, confidence=confidence)
    wins, losses = int((diff > 0).sum()), int((diff < 0).sum())
    if diff.size < 2:
        p_value = math.nan
    elif wins + losses == 0:
        p_value = 1.0
    else:
        p_value = float(wilcoxon(diff, zero_method="wilcox").pvalue)
    return PairedComparison(
        n=int(diff.size),
        mean_diff=interval.mean,
        low=interval.low,
        high=interval.high,
        p_value=p_value,
        wins=wins,
        ties=int(diff.size) - wins - losses,
        losses=losses,
    )


def adjust_p_values(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p values of a family of tests (NaN stays NaN and is not counted).

    Parameters
    ----------
    p_values
        One p per comparison of a report (every metric, prompt pair, model and source).

    Returns
    -------
    numpy.ndarray
        Adjusted p values, aligned with ``p_values``.
    """
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    keep = ~np.isnan(p)
    if keep.any():
        adjusted[keep] = false_discovery_control(p[keep], method="bh")
    return adjusted


def is_better(low: float, high: float, p_adjusted: float, *, higher_is_better: bool = True) -> bool:
    """Better: the interval excludes 0 in the good direction and the adjusted p is below :data:`ALPHA`."""
    if math.isnan(p_adjusted) or p_adjusted >= ALPHA:
        return False
    return bool(low > 0) if higher_is_better else bool(high < 0)


def icc2_1(ratings: Sequence[Sequence[float]] | np.ndarray) -> float:
    """ICC(2,1): two-way random effects, absolute agreement, single rater (Shrout & Fleiss 1979).

    Computed from the two-way ANOVA mean squares::

        ICC(2,1) = (MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)

    with n targets (rows), k raters (columns), MSR the between-targets, MSC the between-raters and MSE the
    residual mean square. Written out here because SciPy has no ICC and the formula is short.

    Parameters
    ----------
    ratings
        An n x k matrix: one row per rated item, one column per rater; rows with a NaN are dropped.

    Returns
    -------
    float
        NaN with fewer than two complete rows, fewer than two raters, or no variance at all.
    """
    data = np.asarray(ratings, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"ratings must be an items x raters matrix, got shape {data.shape}")
    data = data[~np.isnan(data).any(axis=1)]
    n, k = data.shape
    if n < 2 or k < 2:
        return math.nan
    grand = data.mean()
    row_means, col_means = data.mean(axis=1), data.mean(axis=0)
    msr = k * ((row_means - grand) ** 2).sum() / (n - 1)
    msc = n * ((col_means - grand) ** 2).sum() / (k - 1)
    residual = data - row_means[:, None] - col_means[None, :] + grand
    mse = (residual**2).sum() / ((n - 1) * (k - 1))
    denominator = msr + (k - 1) * mse + k * (msc - mse) / n
    return float((msr - mse) / denominator) if denominator > 0 else math.nan


def pairwise_agreement(scores: Sequence[Sequence[float]] | np.ndarray, *, tolerance: float = 0) -> float:
    """Mean pairwise agreement of repeated ratings of the same items.

    Parameters
    ----------
    scores
        An n x k matrix: one row per item, one column per repeat (NaN = missing; an item needs two values).
    tolerance
        Two ratings agree when they differ by at most this much (0: exact; 1: within one point).

    Returns
    -------
    float
        The fraction of agreeing pairs over all pairs of all items; NaN when no item has two ratings.
    """
    data = np.asarray(scores, dtype=float)
    agree = total = 0
    for row in data:
        values = row[~np.isnan(row)]
        for i in range(values.size):
            for j in range(i + 1, values.size):
                total += 1
                agree += abs(values[i] - values[j]) <= tolerance
    return agree / total if total else math.nan
