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
