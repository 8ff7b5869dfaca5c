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
