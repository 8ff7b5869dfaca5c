"""Bootstrap intervals, paired comparisons, ICC and repeat agreement."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.evaluation.stats import (
    adjust_p_values,
    bootstrap_ci,
    icc2_1,
    is_better,
    mean_ci,
    paired_comparison,
    pairwise_agreement,
)


def test_bootstrap_interval_covers_the_true_mean_about_95_percent() -> None:
    rng = np.random.default_rng(1)
    covered = 0
    trials = 200
    for trial in range(trials):
        ci = bootstrap_ci(rng.normal(0.5, 0.1, size=30), n_boot=500, seed=trial)
        covered += ci.low <= 0.5 <= ci.high
        assert ci.low < ci.mean < ci.high
    assert 0.88 <= covered / trials <= 0.99


def test_bootstrap_edge_cases() -> None:
    assert math.isnan(bootstrap_ci([]).mean)
    one = bootstrap_ci([0.3, math.nan])
    assert one.mean == 0.3 and one.n == 1 and math.isnan(one.low)
    assert bootstrap_ci([1, 2, 3], seed=5) == bootstrap_ci([1, 2, 3], seed=5)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1, 2], confidence=95)


def test_paired_comparison_detects_a_consistent_improvement() -> None:
    rng = np.random.default_rng(2)
    base = rng.uniform(0.3, 0.6, size=30)
    result = paired_comparison(base + 0.05 + rng.normal(0, 0.01, size=30), base)
    assert result.n == 30 and result.wins == 30 and result.losses == 0
    assert 0.04 < result.low < result.mean_diff < result.high < 0.06
    assert result.p_value < 1e-5


def test_paired_comparison_ties_and_missing() -> None:
    result = paired_comparison([0.5, 0.6, math.nan, 0.7], [0.5, 0.6, 0.1, 0.7])
    assert (result.n, result.wins, result.ties, result.losses) == (3, 0, 3, 0)
    assert result.p_value == 1.0 and result.mean_diff == 0.0
    mixed = paired_comparison([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5])
    assert (mixed.wins, mixed.losses) == (3, 3) and mixed.p_value > 0.5
    with pytest.raises(ValueError, match="align"):
        paired_comparison([1, 2], [1])


def test_icc_matches_shrout_and_fleiss() -> None:
    table = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    assert icc2_1(table) == pytest.approx(0.29, abs=0.005)  # Shrout & Fleiss 1979, Table 4
    assert icc2_1([[1, 1], [3, 3], [5, 5]]) == pytest.approx(1.0)
    assert math.isnan(icc2_1([[1, 2]]))


def test_pairwise_agreement() -> None:
    assert pairwise_agreement([[4, 4, 4], [3, 3, 3]]) == 1.0
    assert pairwise_agreement([[4, 5, 3]]) == 0.0
    assert pairwise_agreement([[4, 5, 3]], tolerance=1) == pytest.approx(2 / 3)
    assert math.isnan(pairwise_agreement([[4, math.nan]]))


@pytest.mark.parametrize("n", [6, 10, 30])
@pytest.mark.parametrize(
    ("name", "mean"),
    [("normal differences", 0.02), ("ROUGE-like scores", 5 / 7)],
)
def test_intervals_hold_their_level_at_small_n(n: int, name: str, mean: float) -> None:
    rng = np.random.default_rng(n)
    trials = 2000
    if name == "normal differences":
        samples = rng.normal(mean, 0.05, size=(trials, n))
    else:
        samples = rng.beta(5, 2, size=(trials, n))
    covered = 0
    for sample in samples:
        ci = mean_ci(sample)
        covered += ci.low <= mean <= ci.high
    assert 0.93 <= covered / trials <= 0.97, (name, n, covered / trials)


def test_better_is_rare_without_a_true_difference() -> None:
    rng = np.random.default_rng(6)
    trials, flagged = 2000, 0
    for _ in range(trials):
        base = rng.uniform(0.3, 0.6, size=6)
        result = paired_comparison(base + rng.normal(0, 0.05, size=6), base)
        flagged += is_better(result.low, result.high, adjust_p_values([result.p_value])[0])
    assert flagged / trials <= 0.03  # one-sided nominal 2.5 %


def test_four_wins_of_four_are_not_better() -> None:
    result = paired_comparison([0.6, 0.7, 0.8, 0.9], [0.5, 0.6, 0.7, 0.75])
    assert result.wins == 4 and result.low > 0 and result.p_value == 0.125
    assert not is_better(result.low, result.high, adjust_p_values([result.p_value])[0])


def test_benjamini_hochberg_adjustment() -> None:
    adjusted = adjust_p_values([0.01, 0.04, 0.03, math.nan, 0.5])
    # m = 4 tests: 0.01 * 4/1, then min(0.03 * 4/2, 0.04 * 4/3) for both larger ones
    assert adjusted[:3] == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3])
    assert math.isnan(adjusted[3]) and adjusted[4] == 0.5
    assert is_better(0.1, 0.3, 0.04) and not is_better(0.1, 0.3, 0.06)
    assert is_better(-0.3, -0.1, 0.01, higher_is_better=False) and not is_better(-0.3, 0.1, 0.01)


def test_mean_ci_is_the_student_t_interval() -> None:
    from scipy.stats import sem, t

    values = [0.2, 0.5, 0.4, 0.9, math.nan, 0.6]
    data = [v for v in values if not math.isnan(v)]
    for confidence in (0.95, 0.8):
        ci = mean_ci(values, confidence=confidence)
        low, high = t.interval(confidence, len(data) - 1, loc=np.mean(data), scale=sem(data))
        assert (ci.mean, ci.low, ci.high, ci.n) == pytest.approx((np.mean(data), low, high, 5))
    same = mean_ci([0.4, 0.4, 0.4])
    assert (same.low, same.mean, same.high) == pytest.approx((0.4, 0.4, 0.4))
    empty = mean_ci([math.nan])
    assert empty.n == 0 and math.isnan(empty.mean) and math.isnan(empty.low) and math.isnan(empty.high)
    one = mean_ci([0.3])
    assert (one.mean, one.n) == (0.3, 1) and math.isnan(one.low) and math.isnan(one.high)
    for confidence in (0, 1, 95):
        with pytest.raises(ValueError, match=f"confidence must be in \\(0, 1\\), got {confidence}"):
            mean_ci([1, 2], confidence=confidence)


def test_bootstrap_interval_is_the_percentile_interval_of_the_resampled_means() -> None:
    values = [0.1, 0.4, 0.35, 0.8, 0.5, math.nan]
    data = np.array([0.1, 0.4, 0.35, 0.8, 0.5])
    rng = np.random.default_rng(7)
    means = data[rng.integers(0, 5, size=(300, 5))].mean(axis=1)
    ci = bootstrap_ci(values, confidence=0.9, n_boot=300, seed=7)
    assert (ci.mean, ci.low, ci.high, ci.n) == pytest.approx(
        (data.mean(), np.quantile(means, 0.05), np.quantile(means, 0.95), 5)
    )
    assert bootstrap_ci([1, 2], n_boot=1).n == 2
    for bad in ({"n_boot": 0}, {"confidence": 0}, {"confidence": 1}):
        with pytest.raises(ValueError, match="must be"):
            bootstrap_ci([1, 2], **bad)
    empty = bootstrap_ci([])
    assert empty.n == 0 and math.isnan(empty.low) and math.isnan(empty.high)
    one = bootstrap_ci([0.3])
    assert math.isnan(one.high)


def test_paired_comparison_counts_ties_beside_wins_and_losses() -> None:
    # two wins, one loss, two ties: ties = n - wins - losses (not n - wins + losses)
    result = paired_comparison([3, 5, 1, 2, 2], [1, 4, 2, 2, 2])
    assert (result.n, result.wins, result.ties, result.losses) == (5, 2, 2, 1)
    assert result.to_dict() == {
        "n": 5,
        "mean_diff": pytest.approx(0.4),
        "low": result.low,
        "high": result.high,
        "p_value": result.p_value,
        "wins": 2,
        "ties": 2,
        "losses": 1,
    }


def test_near_ties_are_ties_and_zero_for_the_test() -> None:
    from scipy.stats import wilcoxon

    candidate = [0.5 + 1e-12, 0.7, 0.9, 0.4, 0.65]
    baseline = [0.5, 0.6, 0.7, 0.5, 0.6]
    result = paired_comparison(candidate, baseline)
    assert (result.wins, result.ties, result.losses) == (3, 1, 1)
    diff = np.array([0.0, 0.1, 0.2, -0.1, 0.05])
    assert result.p_value == pytest.approx(wilcoxon(diff, zero_method="wilcox").pvalue)
    assert result.mean_diff == pytest.approx(diff.mean())
    # a wider tolerance makes the 0.05 difference a tie as well
    wide = paired_comparison(candidate, baseline, tie_tolerance=0.06)
    assert (wide.wins, wide.ties, wide.losses) == (2, 2, 1)
    assert wide.mean_diff == pytest.approx(np.mean([0.0, 0.1, 0.2, -0.1, 0.0]))


def test_paired_comparison_bounds_are_the_t_interval_of_the_differences() -> None:
    candidate, baseline = [0.6, 0.7, 0.5, 0.9], [0.5, 0.5, 0.55, 0.6]
    diff = np.array(candidate) - np.array(baseline)
    for confidence in (0.95, 0.8):
        result = paired_comparison(candidate, baseline, confidence=confidence)
        ci = mean_ci(diff, confidence=confidence)
        assert (result.low, result.mean_diff, result.high) == pytest.approx((ci.low, ci.mean, ci.high))


def test_two_cases_have_a_p_value_and_one_has_none() -> None:
    two = paired_comparison([0.6, 0.7], [0.5, 0.5])
    assert two.p_value == pytest.approx(0.5) and two.n == 2
    one = paired_comparison([0.6, 0.7], [0.5, math.nan])
    assert one.n == 1 and math.isnan(one.p_value)
    none = paired_comparison([], [])
    assert none.n == 0 and math.isnan(none.p_value)
    with pytest.raises(ValueError, match="got 2 and 1 values"):
        paired_comparison([1, 2], [1])


def test_better_needs_the_adjusted_p_strictly_below_alpha_and_a_bound_past_zero() -> None:
    assert not is_better(0.1, 0.3, 0.05)
    assert not is_better(0.1, 0.3, math.nan)
    assert not is_better(0.0, 0.3, 0.01)
    assert not is_better(-0.3, 0.0, 0.01, higher_is_better=False)
    assert is_better(0.1, 0.3, 0.049)
    assert not is_better(-0.3, -0.1, 0.01)
    assert adjust_p_values([math.nan, math.nan]).tolist() == pytest.approx([math.nan, math.nan], nan_ok=True)
    assert adjust_p_values([0.02]).tolist() == [0.02]


def test_icc_edges() -> None:
    table = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    assert icc2_1(table) == pytest.approx(0.28976, abs=1e-5)
    # rows with a missing rating are dropped, not counted
    assert icc2_1([*table, [1, math.nan, 9, 9]]) == pytest.approx(icc2_1(table))
    # one rater 1 point above the other: MSR = 8, MSC = 1.5, MSE = 0, so ICC = 8 / (8 + 2 * 1.5 / 3)
    assert icc2_1([[1, 2], [3, 4], [5, 6]]) == pytest.approx(8 / 9)
    assert math.isnan(icc2_1([[1], [2], [3]]))
    assert math.isnan(icc2_1([[2, 2], [2, 2]]))
    with pytest.raises(ValueError, match="items x raters matrix, got shape \\(3,\\)"):
        icc2_1([1, 2, 3])


def test_pairwise_agreement_skips_missing_ratings_and_counts_the_tolerance_inclusively() -> None:
    assert pairwise_agreement([[4, math.nan, 4], [2, 3, math.nan]]) == 0.5
    assert pairwise_agreement([[4, 5]], tolerance=1) == 1.0
    assert pairwise_agreement([[4, 5, 6, 4]], tolerance=0) == pytest.approx(1 / 6)
