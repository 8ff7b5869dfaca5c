"""Tables: means with intervals over cases, paired comparisons, cost."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from workbench.evaluation.runs import load_run
from workbench.evaluation.score import load_run_cases, score_run
from workbench.evaluation.tables import case_means, cost_table, metric_table, paired_table, wide_table


@pytest.fixture(scope="module")
def run(sample_run: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    manifest, results = load_run(sample_run)
    return results, score_run(results, load_run_cases(manifest), progress=False).rows


def test_repeats_are_averaged_per_case(run: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, rows = run
    means = case_means(rows, ["rougeL"])
    assert not means.duplicated(["prompt_version", "model", "source", "case_id"]).any()
    table = metric_table(rows, ["rougeL"])
    assert (table["n"] == 4).all()  # cases, not outputs (one configuration has two repeats)


def test_metric_table(run: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, rows = run
    table = metric_table(rows)
    assert list(table.columns) == [
        "prompt_version",
        "model",
        "source",
        "metric",
        "label",
        "n",
        "n_cases",
        "mean",
        "low",
        "high",
    ]
    assert table["prompt_version"].iloc[-1] == "physician"  # physician last
    finite = table.dropna(subset=["low"])
    assert ((finite["low"] <= finite["mean"] + 1e-12) & (finite["mean"] <= finite["high"] + 1e-12)).all()
    wide = wide_table(table)
    assert "ROUGE-L (MeCab)" in wide.columns
    assert wide.loc[("v2", "bedrock:model-a", "doctor"), "Fact recall"].startswith("1.000")


def test_paired_table(run: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, rows = run
    paired = paired_table(rows, ["rougeL", "unsupported_rate"])
    assert set(zip(paired["baseline"], paired["candidate"], strict=True)) == {("v1", "v2")}
    assert (paired["n"] == 4).all()
    rouge_rows = paired[paired["metric"] == "rougeL"]
    # Four wins out of four: the interval excludes 0, but Wilcoxon's exact p is 0.125: not "better".
    assert (rouge_rows["wins"] == 4).all() and (rouge_rows["low"] > 0).all()
    assert (rouge_rows["p_value"] == 0.125).all() and not rouge_rows["better"].any()
    assert (paired["p_adjusted"] >= paired["p_value"]).all()
    assert paired.attrs == {"correction": "Benjamini-Hochberg", "comparisons": len(paired)}
    unsupported = paired[paired["metric"] == "unsupported_rate"]
    assert (unsupported["mean_diff"] < 0).all()  # lower is better
    assert paired_table(rows, ["rougeL"], baseline="v2")["candidate"].eq("v1").all()


def test_cost_table(run: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    results, _ = run
    costs = cost_table(results).set_index(["prompt_version", "model", "source"])
    repeated = costs.loc[("v2", "bedrock:model-a", "doctor")]
    assert repeated["calls"] == 8 and repeated["cache_hits"] == 4
    assert repeated["cost_usd"] == pytest.approx(0.04)  # cache hits are not billed
    assert repeated["cost_per_summary_usd"] == pytest.approx(0.005)
    assert costs["errors"].sum() == 0
    assert costs.loc[("v1", "bedrock:model-b", "both"), "cost_usd"] == pytest.approx(0.08)


def test_a_metric_missing_for_some_cases_says_n_of_all() -> None:
    import math

    rows = pd.DataFrame(
        {
            "prompt_version": ["v1"] * 6,
            "model": ["m"] * 6,
            "source": ["both"] * 6,
            "case_id": [f"c{i}" for i in range(6)],
            "fact_recall": [0.5, 0.6, 0.7, 0.8, math.nan, math.nan],  # two cases without facts.json
            "rougeL": [0.3, 0.4, 0.5, 0.4, 0.3, 0.5],
        }
    )
    table = metric_table(rows, ["fact_recall", "rougeL"]).set_index("metric")
    assert (table.loc["fact_recall", "n"], table.loc["fact_recall", "n_cases"]) == (4, 6)
    wide = wide_table(metric_table(rows, ["fact_recall", "rougeL"]))
    row = wide.loc[("v1", "m", "both")]
    assert row["n"] == 6
    assert row["Fact recall"].endswith("(n = 4 of 6)")
    assert "n =" not in row["ROUGE-L (MeCab)"]
    assert "n = 4 of 6" in wide.to_csv()


def test_every_table_has_its_n(run: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    results, rows = run
    assert {"n", "n_cases"} <= set(metric_table(rows).columns)
    assert {"n", "n_cases"} <= set(paired_table(rows, ["rougeL"]).columns)
    assert {"n_cases", "calls", "ok", "n_calls_made"} <= set(cost_table(results).columns)
    assert "n" in wide_table(metric_table(rows)).columns
