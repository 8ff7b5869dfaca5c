"""Evaluation of discharge summaries against physician-written ones: metrics, LLM judge, statistics, report.

Modules
-------
tokenize
    MeCab (fugashi + unidic-lite) and character tokenizers, as ``rouge-score`` tokenizer objects.
overlap
    :func:`rouge` (ROUGE-1/2/L F-measures, ``tokenizer="mecab"|"char"``) and :func:`chrf`.
normalize
    One spelling for widths, units and date styles (``１０ｍｇ`` = ``10mg``, ``7月25日`` = ``2023-07-25``).
facts, grounding, structure
    Fact recall against ``facts.json``; numbers (with analyte and unit), dates (with their event) and drugs
    the notes do not support; sections, length.
planted
    The planted-error set that measures the grounding check (recall on errors, false flags on variants).
score
    Every metric per output and per section of a run, with the physician's summary scored alongside.
judge
    An LLM judge on the nine PDSQI-9 attributes, k repeats and their agreement, cached.
ratings
    Blinded physician rating sheets (CSV/XLSX) out and back; agreement with the judge (Spearman, ICC).
stats, tables, plots
    Student-t intervals, paired comparisons, Benjamini-Hochberg; the report's tables (n everywhere), figures.
runs, evaluate, report
    Reading a run folder; evaluating it end to end; the HTML report with its CSVs.

``rouge``, ``chrf``, ``load_run``, ``evaluate_run`` and ``write_report`` are importable from here; they load
their modules (and ``rouge-score``, which imports NLTK) on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from workbench.optional import require

require(
    "fugashi",
    "unidic_lite",
    "rouge_score",
    "sacrebleu",
    "jinja2",
    "openpyxl",
    "rapidfuzz",
    what="workbench.evaluation",
)

_LAZY = {
    "rouge": "workbench.evaluation.overlap",
    "chrf": "workbench.evaluation.overlap",
    "load_run": "workbench.evaluation.runs",
    "evaluate_run": "workbench.evaluation.evaluate",
    "write_report": "workbench.evaluation.report",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
