"""Plots of a run's evaluation: metric means with intervals, per-section ROUGE-L, cost against quality.

Each function returns a matplotlib Figure (imported lazily); the report embeds them as PNG.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from workbench.records.schema import GROUP_COLUMNS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

DEFAULT_METRICS = ("rougeL", "rougeL_char", "chrf", "fact_recall", "unsupported_rate", "section_completeness")
"""The metrics the overview plot shows, when present."""
SECTION_LABELS = {
    "現病歴": "Present illness",
    "併存症": "Comorbidities",
    "重大な身体所見およびその他の所見": "Findings",
    "入院中の治療経過": "Hospital course",
}
"""English axis labels of the template sections (a Japanese font is not guaranteed on every machine)."""


def config_label(row: pd.Series | dict) -> str:
    """How plots name a configuration: ``prompt · model · source``."""
    return " · ".join(str(row[c]) for c in GROUP_COLUMNS)


def plot_metrics(table: pd.DataFrame, metrics: Sequence[str] | None = None, *, columns: int = 3) -> Figure:
    """Mean and confidence interval of each metric, one panel per metric, one row per configuration.

    Parameters
    ----------
    table
        :func:`workbench.evaluation.tables.metric_table` output.
    metrics
        Metric names (default: :data:`DEFAULT_METRICS` present, plus the judge's).
    columns
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    present = list(dict.fromkeys(table["metric"]))
    if metrics is None:
        metrics = [m for m in DEFAULT_METRICS if m in present] + [
            m for m in present if m.startswith("judge_")
        ]
    metrics = [m for m in metrics if m in present]
    configs = list(dict.fromkeys(config_label(r) for _, r in table.iterrows()))
    rows = max(1, math.ceil(len(metrics) / columns))
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(4.2 * columns, 0.35 * len(configs) * rows + 1.6 * rows),
        squeeze=False,
        sharey=True,
    )
    positions = {label: i for i, label in enumerate(configs)}
    for ax, metric in zip(axes.flat, metrics, strict=False):
        data = table[table["metric"] == metric]
        y = [positions[config_label(r)] for _, r in data.iterrows()]
        low = (data["mean"] - data["low"]).fillna(0).clip(lower=0)
        high = (data["high"] - data["mean"]).fillna(0).clip(lower=0)
        ax.errorbar(data["mean"], y, xerr=[low, high], fmt="o", capsize=3)
        ax.set_title(data["label"].iloc[0], fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_yticks(range(len(configs)))
        ax.set_yticklabels(configs, fontsize=8)
    axes[0, 0].invert_yaxis()  # shared by every panel: first configuration on top
    fig.tight_layout()
    return fig


def plot_sections(sections: pd.DataFrame, metric: str = "rougeL") -> Figure:
    """Heat map of a per-section metric: configurations x template sections (mean over cases).

    Parameters
    ----------
    sections
        ``Scores.sections``.
    metric
        One of :data:`workbench.evaluation.score.SECTION_METRICS`.
    """
    import matplotlib.pyplot as plt

    from workbench.summary.sections import SECTIONS

    frame = sections.assign(config=[config_label(r) for _, r in sections.iterrows()])
    grid = frame.pivot_table(index="config", columns="section", values=metric, aggfunc="mean", sort=False)
    grid = grid[[s for s in SECTIONS if s in grid.columns]]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(grid) + 1.8))
    image = ax.imshow(grid.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_yticks(range(len(grid)))
    ax.set_yticklabels(grid.index, fontsize=8)
    ax.set_xticks(range(len(grid.columns)))
    ax.set_xticklabels([SECTION_LABELS.get(name, name) for name in grid.columns], fontsize=8)
    for (i, j), value in pd.DataFrame(grid.to_numpy()).stack().items():
        ax.text(
            j,
            i,
            f"{value:.2f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value < 0.6 else "black",
        )
    fig.colorbar(image, ax=ax, label=metric)
    fig.tight_layout()
    return fig


def plot_cost_quality(costs: pd.DataFrame, table: pd.DataFrame, metric: str = "rougeL") -> Figure:
    """Cost per summary against a quality metric, one point per configuration.

    Parameters
    ----------
    costs
        :func:`workbench.evaluation.tables.cost_table` output.
    table
        :func:`workbench.evaluation.tables.metric_table` output.
    metric
        The quality axis.
    """
    import matplotlib.pyplot as plt

    quality = table[table["metric"] == metric]
    merged = costs.merge(quality, on=list(GROUP_COLUMNS), how="inner")
    fig, ax = plt.subplots(figsize=(9, 4.5))
    markers = "osD^v<>px*"
    for i, (_, row) in enumerate(merged.iterrows()):
        ax.errorbar(
            row["cost_per_summary_usd"],
            row["mean"],
            yerr=[
                [max(0.0, row["mean"] - row["low"]) if pd.notna(row["low"]) else 0],
                [max(0.0, row["high"] - row["mean"]) if pd.notna(row["high"]) else 0],
            ],
            fmt=markers[i % len(markers)],
            capsize=3,
            label=config_label(row),
            alpha=0.8,
        )
    ax.set_xlabel("cost per summary (USD)")
    ax.set_ylabel(quality["label"].iloc[0] if len(quality) else metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig
