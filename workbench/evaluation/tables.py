"""Report tables: metric means with intervals, paired prompt comparisons, cost and latency.

Every table treats the *case* as the unit: repeats of one (configuration, case) are averaged first, then the
interval is a Student-t interval over cases (:mod:`workbench.evaluation.stats` says why), and comparisons
pair the same case across prompt versions, with p values adjusted across the whole table.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from workbench.evaluation.score import METRIC_NAMES, METRICS, REFERENCE_SYSTEM
from workbench.evaluation.stats import CORRECTION, adjust_p_values, is_better, mean_ci, paired_comparison
from workbench.records.schema import GROUP_COLUMNS

logger = logging.getLogger(__name__)

_LABELS = {m.name: m.label for m in METRICS}


def metric_label(name: str) -> str:
    """How tables and plots name a metric column (judge criteria are named ``judge_<criterion>``)."""
    if name.startswith("judge_"):
        return "Judge: " + name.removeprefix("judge_").replace("_", " ")
    return _LABELS.get(name, name)


def _version_key(version: str) -> list[object]:
    """Natural order of prompt versions: v2 before v10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(version))]


def metric_columns(frame: pd.DataFrame, metrics: Sequence[str] | None = None) -> list[str]:
    """The metric columns of a scores frame: ``metrics`` if given, else the known and judge ones present."""
    if metrics is not None:
        return list(metrics)
    known = [m for m in METRIC_NAMES if m in frame.columns]
    return known + [c for c in frame.columns if c.startswith("judge_") and c not in known]


def case_means(scores: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Average repeats: one row per (prompt_version, model, source, case_id)."""
    columns = metric_columns(scores, metrics)
    keys = [*GROUP_COLUMNS, "case_id"]
    numeric = scores[keys + columns].copy()
    numeric[columns] = numeric[columns].apply(pd.to_numeric, errors="coerce")
    return numeric.groupby(keys, as_index=False, sort=True)[columns].mean()


def metric_table(
    scores: pd.DataFrame, metrics: Sequence[str] | None = None, *, confidence: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Mean and bootstrap interval of every metric per (prompt_version, model, source).

    Parameters
    ----------
    scores
        ``Scores.rows`` (optionally with ``judge_*`` columns).
    metrics
        Columns to summarise (default: all known metric columns present).
    confidence
        Of the interval.
    seed
        Unused (t intervals are not resampled); kept for callers.

    Returns
    -------
    pandas.DataFrame
        Long format: prompt_version, model, source, metric, label, n (cases with a value), n_cases (cases
        of the configuration), mean, low, high.
    """
    columns = metric_columns(scores, metrics)
    per_case = case_means(scores, columns)
    records = []
    for group, frame in per_case.groupby(list(GROUP_COLUMNS), sort=False):
        for metric in columns:
            ci = mean_ci(frame[metric].to_numpy(), confidence=confidence)
            if ci.n == 0:
                continue
            records.append(
                {
                    **dict(zip(GROUP_COLUMNS, group, strict=True)),
                    "metric": metric,
                    "label": metric_label(metric),
                    "n": ci.n,
                    "n_cases": len(frame),
                    "mean": ci.mean,
                    "low": ci.low,
                    "high": ci.high,
                }
            )
    columns_out = [*GROUP_COLUMNS, "metric", "label", "n", "n_cases", "mean", "low", "high"]
    table = pd.DataFrame(records, columns=columns_out)
    return _sorted(table)


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    """Prompt versions in natural order, the physician last; then model, source, metrics in table order."""
    metric_order = {m: i for i, m in enumerate(METRIC_NAMES)}

    def key(row: Any) -> tuple[Any, ...]:
        version = str(row.prompt_version)
        return (
            version == REFERENCE_SYSTEM,
            _version_key(version),
            str(row.model),
            str(row.source),
            metric_order.get(row.metric, len(metric_order)),
            row.metric,
        )

    rows = list(table.itertuples(index=False))
    order = sorted(range(len(rows)), key=lambda i: key(rows[i]))
    return table.iloc[order].reset_index(drop=True)


def wide_table(table: pd.DataFrame, *, digits: int = 3) -> pd.DataFrame:
    """:func:`metric_table` as one row per configuration and one ``mean [low, high]`` cell per metric.

    Every row starts with ``n`` (its cases); a cell computed on fewer of them says so: ``0.640 [0.52, 0.76]
    (n = 4 of 6)`` (fact recall without facts.json, the unsupported rate of summaries without a claim).
    """
    if table.empty:
        return pd.DataFrame()

    def cell(row: pd.Series) -> str:
        text = f"{row['mean']:.{digits}f}"
        if not pd.isna(row["low"]):
            text += f" [{row['low']:.{digits}f}, {row['high']:.{digits}f}]"
        total = row.get("n_cases", row["n"])
        if pd.notna(total) and int(row["n"]) < int(total):
            text += f" (n = {int(row['n'])} of {int(total)})"
        return text

    cells = table.assign(cell=table.apply(cell, axis=1))
    wide = cells.pivot_table(
        index=list(GROUP_COLUMNS), columns="label", values="cell", aggfunc="first", sort=False
    )
    labels = list(dict.fromkeys(table["label"]))
    wide = wide[[label for label in labels if label in wide.columns]]
    counts = table.groupby(list(GROUP_COLUMNS), sort=False)["n_cases" if "n_cases" in table else "n"].max()
    wide.insert(0, "n", counts.reindex(wide.index).astype(int))
    wide.columns.name = None
    return wide


def paired_table(
    scores: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    *,
    baseline: str | None = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Compare prompt versions on the same cases, per (model, source).

    Parameters
    ----------
    scores
        ``Scores.rows``.
    metrics
        Columns to compare (default: all known metric columns present).
    baseline
        Compare every other version with this one; default: each version with the one before it (natural
        order, v1 -> v2 -> v10).
    confidence
        Of the paired t interval.
    seed
        Unused; kept for callers.

    Returns
    -------
    pandas.DataFrame
        model, source, baseline, candidate, metric, label, n (cases compared), n_cases (cases of the pair),
        mean_diff (candidate - baseline), low, high, p_value (Wilcoxon signed-rank), p_adjusted (adjusted
        across every row of the table by :data:`~workbench.evaluation.stats.CORRECTION`), wins, ties,
        losses, better (the interval excludes 0 in the metric's good direction and p_adjusted < 0.05).
        ``attrs["correction"]`` names the adjustment and ``attrs["comparisons"]`` counts the family.
    """
    direction = {m.name: m.higher_is_better for m in METRICS}
    compared = {m.name: m.compared for m in METRICS}
    columns = [c for c in metric_columns(scores, metrics) if compared.get(c, True)]
    per_case = case_means(scores[scores["prompt_version"] != REFERENCE_SYSTEM], columns)
    records = []
    for (model, source), frame in per_case.groupby(["model", "source"], sort=True):
        versions = sorted(frame["prompt_version"].unique(), key=_version_key)
        if baseline is not None:
            pairs = [(baseline, v) for v in versions if v != baseline and baseline in versions]
        else:
            pairs = list(itertools.pairwise(versions))
        wide = {v: frame[frame["prompt_version"] == v].set_index("case_id") for v in versions}
        for base, cand in pairs:
            common = wide[base].index.intersection(wide[cand].index)
            for metric in columns:
                result = paired_comparison(
                    wide[cand].loc[common, metric].to_numpy(),
                    wide[base].loc[common, metric].to_numpy(),
                    confidence=confidence,
                    seed=seed,
                )
                if result.n == 0:
                    continue
                records.append(
                    {
                        "model": model,
                        "source": source,
                        "baseline": base,
                        "candidate": cand,
                        "metric": metric,
                        "label": metric_label(metric),
                        **result.to_dict(),
                        "n_cases": len(common),
                    }
                )
    columns_out = [
        "model",
        "source",
        "baseline",
        "candidate",
        "metric",
        "label",
        "n",
        "n_cases",
        "mean_diff",
        "low",
        "high",
        "p_value",
        "p_adjusted",
        "wins",
        "ties",
        "losses",
        "better",
    ]
    table = pd.DataFrame(records, columns=columns_out)
    table["p_adjusted"] = adjust_p_values(table["p_value"].to_numpy()) if len(table) else []
    table["better"] = [
        is_better(row.low, row.high, row.p_adjusted, higher_is_better=direction.get(row.metric, True))
        for row in table.itertuples(index=False)
    ]
    table.attrs.update({"correction": CORRECTION, "comparisons": int(table["p_value"].notna().sum())})
    return table


def cost_table(results: pd.DataFrame) -> pd.DataFrame:
    """Calls, errors, cache hits, cost, latency and tokens per (prompt_version, model, source).

    Parameters
    ----------
    results
        The run's results (:func:`workbench.evaluation.runs.load_run`).

    Returns
    -------
    pandas.DataFrame
        n_cases, calls, ok, errors, cache_hits, truncated, cost_usd (total billed), cost_per_summary_usd,
        latency_ms_mean, latency_ms_p95 (over ``n_calls_made``, the calls not answered by the cache),
        input_tokens_mean, output_tokens_mean (over ``ok``).
    """
    frame = results.copy()
    for column in ("cost_usd", "latency_ms", "input_tokens", "output_tokens"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["has_error"] = frame["error"].notna()
    frame["is_hit"] = frame["cache_hit"].fillna(False).astype(bool)
    frame["is_truncated"] = frame["truncated"].fillna(False).astype(bool)
    ok = frame[frame["ok"]]
    grouped = frame.groupby(list(GROUP_COLUMNS), sort=True)
    table = pd.DataFrame(
        {
            "n_cases": grouped["case_id"].nunique(),
            "calls": grouped.size(),
            "ok": grouped["ok"].sum(),
            "errors": grouped["has_error"].sum(),
            "cache_hits": grouped["is_hit"].sum(),
            "truncated": grouped["is_truncated"].sum(),
            "cost_usd": grouped["cost_usd"].sum(),
        }
    )
    ok_grouped = ok.groupby(list(GROUP_COLUMNS), sort=True)
    # Latency and tokens of the calls actually made (a cache hit costs nothing and takes no time).
    made = ok[~ok["is_hit"]].groupby(list(GROUP_COLUMNS), sort=True)
    table["cost_per_summary_usd"] = table["cost_usd"] / ok_grouped.size()
    table["n_calls_made"] = made.size()
    table["n_calls_made"] = table["n_calls_made"].fillna(0).astype(int)
    table["latency_ms_mean"] = made["latency_ms"].mean()
    table["latency_ms_p95"] = made["latency_ms"].quantile(0.95)
    table["input_tokens_mean"] = ok_grouped["input_tokens"].mean()
    table["output_tokens_mean"] = ok_grouped["output_tokens"].mean()
    return table.reset_index()
