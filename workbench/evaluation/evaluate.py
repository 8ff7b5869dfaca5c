"""Evaluate a run folder end to end: load, score, optionally judge, and tabulate.

:func:`evaluate_run` is what ``workbench experiment report`` and notebook 04 call; the result holds every
table the report shows, so a notebook can display them and then hand the same object to
:func:`workbench.evaluation.report.write_report` without scoring twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.evaluation.citations import citation_tables
from workbench.evaluation.judge import Judge
from workbench.evaluation.ratings import judge_agreement, load_ratings
from workbench.evaluation.runs import load_run
from workbench.evaluation.score import REFERENCE_SYSTEM, Scores, load_run_cases, score_run
from workbench.evaluation.tables import cost_table, metric_table, paired_table
from workbench.evaluation.tokenize import tokenizer_info
from workbench.summary.cases import Case
from workbench.summary.review import Review

logger = logging.getLogger(__name__)

DEFAULT_JUDGE_REPEATS = 3


@dataclass
class RunEvaluation:
    """Everything the report shows about one run.

    Attributes
    ----------
    run_dir : Path
    manifest : dict
    results : pandas.DataFrame
        :func:`workbench.evaluation.runs.load_run` rows.
    cases : dict
        Case id -> Case.
    scores : Scores
        Per-output and per-section metrics (with ``judge_*`` columns when judged).
    metrics : pandas.DataFrame
        :func:`workbench.evaluation.tables.metric_table`.
    paired : pandas.DataFrame
        :func:`workbench.evaluation.tables.paired_table`.
    costs : pandas.DataFrame
        :func:`workbench.evaluation.tables.cost_table`.
    judged : pandas.DataFrame or None
        The judge's rows (``key``, ``judge_*``, ``judging_*``), when a judge ran.
    judge_model : str or None
    tokenizer : dict
        The tokenizer the Japanese metrics used, with its package and dictionary versions
        (:func:`workbench.evaluation.tokenize.tokenizer_info`); the report records it.
    citations, edits : pandas.DataFrame or None
        :func:`workbench.evaluation.citations.citation_tables`: citation metrics per configuration, and
        physician edit metrics per configuration and section where reviews exist.
    agreement : pandas.DataFrame or None
        Judge-physician agreement per PDSQI-9 attribute
        (:func:`workbench.evaluation.ratings.judge_agreement`), when a judge ran and physician ratings exist.
    """

    run_dir: Path
    manifest: dict[str, Any]
    results: pd.DataFrame
    cases: dict[str, Case]
    scores: Scores
    metrics: pd.DataFrame
    paired: pd.DataFrame
    costs: pd.DataFrame
    judged: pd.DataFrame | None = None
    judge_model: str | None = None
    tokenizer: dict[str, Any] = field(default_factory=dict)
    citations: pd.DataFrame | None = None
    edits: pd.DataFrame | None = None
    agreement: pd.DataFrame | None = None


def resolve_judge(judge: Judge | str | bool | None, manifest: dict[str, Any]) -> Judge | None:
    """The judge to use: None/False none, True the spec's ``judge`` settings, a model name, or a Judge.

    Raises
    ------
    SpecError
        If ``judge=True`` but the run's spec names no judge model.
    """
    from workbench.errors import SpecError

    if judge is None or judge is False:
        return None
    if isinstance(judge, Judge):
        return judge
    settings = (manifest.get("spec") or {}).get("judge") or {}
    repeats = int(settings.get("repeats", DEFAULT_JUDGE_REPEATS))
    if judge is True:
        if not settings.get("model"):
            raise SpecError(
                f"run {manifest.get('run_id')} has no judge model in its spec (judge: {{model: ...}}); "
                "name one: workbench experiment report RUN_DIR --judge MODEL "
                "(e.g. --judge bedrock:<model-id>), or judge='bedrock:<model-id>' in Python"
            )
        return Judge(settings["model"], repeats=repeats)
    return Judge(str(judge), repeats=repeats)


def evaluate_run(
    run_dir: str | Path,
    *,
    judge: Judge | str | bool | None = None,
    cases: dict[str, Case] | None = None,
    progress: bool = True,
    reviews: Iterable[Review] | None = None,
    ratings: pd.DataFrame | None = None,
) -> RunEvaluation:
    """Load, score, judge (optionally) and tabulate a run.

    Parameters
    ----------
    run_dir
        The run folder.
    judge
        See :func:`resolve_judge`. Judging calls a model (k calls per output, cached).
    cases
        The run's cases; default: loaded from the folders the manifest names.
    progress
        Progress bars.
    reviews
        Physician reviews for the edit metrics (default: those beside the default history).
    ratings
        Physician ratings of the run (:func:`workbench.evaluation.ratings.import_ratings`); default: the
        run's ``ratings.csv`` when there is one (:func:`workbench.evaluation.ratings.save_ratings`). With a
        judge, the report shows judge-physician agreement per attribute.

    Returns
    -------
    RunEvaluation

    Raises
    ------
    NotFoundError
        If the run folder or one of its case folders does not exist.
    BackendError
        If the judge model is unknown or cannot be called.
    SpecError
        If ``judge=True`` and the run's spec names no judge.
    """
    manifest, results = load_run(run_dir)
    chosen = resolve_judge(judge, manifest)  # an unknown judge model fails before any work
    cases = cases if cases is not None else load_run_cases(manifest)
    scores = score_run(results, cases, progress=progress)
    judged = None
    if chosen is not None:
        items = scores.rows[["key", "case_id", "source", "prompt_version"]].copy()
        outputs = results.set_index("key")["output"]
        items["output"] = [
            cases[c].reference if v == REFERENCE_SYSTEM else outputs[k]
            for k, c, v in zip(items["key"], items["case_id"], items["prompt_version"], strict=True)
        ]
        judged = chosen.judge_frame(items, cases, progress=progress)
        scores.rows = scores.rows.merge(judged, on="key", how="left")
    citations, edits = citation_tables(results, cases, reviews=reviews)
    agreement = None
    if judged is not None:
        ratings = ratings if ratings is not None else load_ratings(run_dir)
        if ratings is not None and not ratings.empty:
            agreement = judge_agreement(ratings, judged)
    return RunEvaluation(
        run_dir=Path(run_dir),
        manifest=manifest,
        results=results,
        cases=cases,
        scores=scores,
        metrics=metric_table(scores.rows),
        paired=paired_table(scores.rows),
        costs=cost_table(results),
        judged=judged,
        judge_model=chosen.model if chosen is not None else None,
        tokenizer=tokenizer_info(),
        citations=citations,
        edits=edits,
        agreement=agreement,
    )
