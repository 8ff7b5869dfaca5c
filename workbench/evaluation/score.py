"""Score every output of a run: text overlap, facts, grounding and structure, per summary and per section.

:func:`score_output` scores one text against its case; :func:`score_run` scores a whole run (as read by
:func:`workbench.evaluation.runs.load_run`) and adds the physician-written summary itself as the system
``physician`` wherever that is meaningful (fact recall, unsupported content, sections, length), so tables show
how far a model is from what physicians write, not only from a perfect score.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import NotFoundError
from workbench.evaluation.facts import FactCategory, fact_recall
from workbench.evaluation.grounding import NotesChecker
from workbench.evaluation.lexicon import DrugLexicon
from workbench.evaluation.overlap import chrf, rouge
from workbench.evaluation.structure import length_ratio, structure
from workbench.records.schema import GROUP_COLUMNS
from workbench.summary.cases import Case, load_case
from workbench.summary.sections import SECTIONS, parse_sections

logger = logging.getLogger(__name__)

REFERENCE_SYSTEM = "physician"
"""``prompt_version`` and ``model`` of the rows scoring the physician-written summary."""


@dataclass(frozen=True)
class Metric:
    """A metric column: its name, how tables label it, and which direction is better."""

    name: str
    label: str
    higher_is_better: bool = True
    uses_reference: bool = True
    compared: bool = True
    """Whether prompt versions are compared on it (a count of claims is neither better nor worse)."""


METRICS: tuple[Metric, ...] = (
    Metric("rouge1", "ROUGE-1 (MeCab)"),
    Metric("rouge2", "ROUGE-2 (MeCab)"),
    Metric("rougeL", "ROUGE-L (MeCab)"),
    Metric("rouge1_char", "ROUGE-1 (char)"),
    Metric("rouge2_char", "ROUGE-2 (char)"),
    Metric("rougeL_char", "ROUGE-L (char)"),
    Metric("chrf", "chrF"),
    Metric("fact_recall", "Fact recall", uses_reference=False),
    Metric("unsupported_rate", "Unsupported content rate", higher_is_better=False, uses_reference=False),
    Metric("n_claims", "Checkable claims", uses_reference=False, compared=False),
    Metric(
        "uncheckable_share",
        "Sentences without a checkable claim",
        higher_is_better=False,
        uses_reference=False,
        compared=False,
    ),
    Metric("section_completeness", "Section completeness", uses_reference=False),
    Metric("length_ratio", "Length ratio to physician", uses_reference=False),
)
"""The per-summary metrics, in table order."""
METRIC_NAMES = tuple(m.name for m in METRICS)
SECTION_METRICS = ("rouge1", "rougeL", "rougeL_char", "chrf")
"""Metrics computed per section."""


@dataclass
class Scores:
    """Scores of a run.

    Attributes
    ----------
    rows : pandas.DataFrame
        One row per output (and per case and source for the physician): the run's columns, the metrics of
        :data:`METRICS` (``n_claims`` and ``uncheckable_share`` among them), ``unsupported`` (the unsupported
        numbers, dates and drugs, joined by " | "), ``unverifiable``, ``missed_facts`` and
        ``missing_sections``.
    sections : pandas.DataFrame
        One row per output and template section: key columns, ``section``, the :data:`SECTION_METRICS`.
    """

    rows: pd.DataFrame
    sections: pd.DataFrame


def reference_key(case_id: str, source: str) -> str:
    """The ``key`` of the row scoring the physician's summary of a case against the notes of ``source``."""
    return f"{REFERENCE_SYSTEM}/{case_id}/{source}"


def reference_row(case_id: str, source: str) -> dict[str, Any]:
    """The identifying columns of the row that stands for the physician's summary of a case."""
    return {
        "key": reference_key(case_id, source),
        "prompt_version": REFERENCE_SYSTEM,
        "model": REFERENCE_SYSTEM,
        "source": source,
        "case_id": case_id,
        "repeat": 0,
    }


def _drug_groups(case: Case) -> list[list[str]]:
    drugs = (case.facts or {}).get(FactCategory.DRUGS.value) or []
    return [[d["name"], *(d.get("aliases") or [])] for d in drugs if isinstance(d, Mapping) and d.get("name")]


def notes_text(case: Case, source: str) -> str:
    """What the model saw, with relative dates made explicit: the ground truth for the grounding check."""
    return f"{case.ichigo}\n{case.karte(source, annotate_dates=True)}"


def notes_checker(case: Case, source: str, *, lexicon: DrugLexicon | None = None) -> NotesChecker:
    """The grounding checker of a case's notes for ``source`` (the case's ``facts.json`` drugs added)."""
    return NotesChecker(
        notes_text(case, source), anchor=case.admission_date, lexicon=lexicon, extra_drugs=_drug_groups(case)
    )


def score_output(
    output: str, case: Case, source: str, *, notes: NotesChecker | None = None, reference: bool = True
) -> dict[str, Any]:
    """Every per-summary metric of one text.

    Parameters
    ----------
    output
        The summary to score.
    case
        Its case (reference summary, facts, notes).
    source
        ``doctor``, ``nursing`` or ``both``: the notes the summary was written from.
    notes
        The case's notes for ``source``, indexed (default: :func:`notes_checker` builds it; pass one to
        score many outputs of the same case and source quickly).
    reference
        Compute the metrics that compare with the physician's summary word for word (ROUGE, chrF).

    Returns
    -------
    dict
        Metric name -> value (NaN where it does not apply: no reference, no facts), plus ``unsupported``
        (unsupported claims), ``unverifiable`` (drug-like words in no list), ``missed_facts``,
        ``missing_sections``. ``n_claims`` is 0, never missing, for a summary without a checkable claim;
        its ``unsupported_rate`` is then NaN and tables count it as missing (n = k of N).
    """
    values: dict[str, Any] = dict.fromkeys(METRIC_NAMES, math.nan)
    ref = case.reference or ""
    if reference and ref.strip():
        for tokenizer, suffix in (("mecab", ""), ("char", "_char")):
            for key, value in rouge(output, ref, tokenizer).items():
                values[key + suffix] = value
        values["chrf"] = chrf(output, ref)
    if ref.strip():
        values["length_ratio"] = length_ratio(output, ref)
    missed: list[str] = []
    if case.facts:
        recall = fact_recall(
            output, case.facts, anchor=case.admission_date, where=str(case.path or case.case_id)
        )
        values["fact_recall"] = recall.recall
        missed = recall.missed
    checked = (notes or notes_checker(case, source)).check(output)
    values["unsupported_rate"] = checked.unsupported_rate
    values["n_claims"] = checked.n_claims
    values["uncheckable_share"] = checked.uncheckable_share
    values["unsupported"] = " | ".join(c.text for c in checked.unsupported)
    values["unverifiable"] = " | ".join(c.text for c in checked.unverifiable)
    shape = structure(output)
    values["section_completeness"] = shape.completeness
    values["missing_sections"] = " | ".join(shape.missing)
    values["missed_facts"] = " | ".join(missed)
    return values


def score_sections(output: str, reference: str) -> dict[str, dict[str, float]]:
    """Per template section, the :data:`SECTION_METRICS` of the output's section against the physician's.

    A section the output lacks scores 0; a section the physician left empty is skipped.

    Returns
    -------
    dict
        Section name -> metric name -> value.
    """
    ours = parse_sections(output).sections
    theirs = parse_sections(reference).sections
    result: dict[str, dict[str, float]] = {}
    for name in SECTIONS:
        ref = theirs.get(name, "")
        if not ref.strip():
            continue
        text = ours.get(name, "")
        mecab, char = rouge(text, ref, "mecab"), rouge(text, ref, "char")
        result[name] = {
            "rouge1": mecab["rouge1"],
            "rougeL": mecab["rougeL"],
            "rougeL_char": char["rougeL"],
            "chrf": chrf(text, ref) if text.strip() else 0.0,
        }
    return result


def load_run_cases(manifest: Mapping[str, Any]) -> dict[str, Case]:
    """Load the cases a run names (``manifest["cases"]``: case id -> case folder).

    Raises
    ------
    NotFoundError
        If a case folder no longer exists.
    """
    cases: dict[str, Case] = {}
    for case_id, folder in (manifest.get("cases") or {}).items():
        if not Path(folder).is_dir():
            raise NotFoundError(
                f"case {case_id} of run {manifest.get('run_id')} is not at {folder} any more; "
                "pass the cases to score_run(cases=...) or restore the folder"
            )
        cases[case_id] = load_case(folder)
    return cases


def score_run(
    results: pd.DataFrame,
    cases: Mapping[str, Case] | Iterable[Case],
    *,
    include_reference: bool = True,
    progress: bool = True,
) -> Scores:
    """Score every successful output of a run.

    Parameters
    ----------
    results
        The run's results (:func:`workbench.evaluation.runs.load_run`); rows without ``ok`` are skipped.
    cases
        The run's cases, by id or as a list (:func:`load_run_cases`).
    include_reference
        Add the physician's summary of each (case, source) of the run as the system :data:`REFERENCE_SYSTEM`.
    progress
        Show a progress bar.

    Returns
    -------
    Scores

    Raises
    ------
    NotFoundError
        If an output's case is not among ``cases``.
    """
    from workbench.progress import tqdm

    by_id = dict(cases) if isinstance(cases, Mapping) else {c.case_id: c for c in cases}
    lexicon = DrugLexicon.default()
    checkers: dict[tuple[str, str], NotesChecker] = {}

    def notes(case: Case, source: str) -> NotesChecker:
        if (case.case_id, source) not in checkers:
            checkers[case.case_id, source] = notes_checker(case, source, lexicon=lexicon)
        return checkers[case.case_id, source]

    ok = results[results["ok"]] if "ok" in results else results
    keys = ["key", *GROUP_COLUMNS, "case_id", "repeat"]
    rows: list[dict[str, Any]] = []
    section_rows: list[dict[str, Any]] = []
    for record in tqdm(ok.to_dict("records"), desc="scoring", disable=not progress):
        case = by_id.get(record["case_id"])
        if case is None:
            raise NotFoundError(
                f"output {record['key']} is for case {record['case_id']!r}, which was not given"
            )
        base = {k: record.get(k) for k in keys}
        rows.append(
            {
                **base,
                **score_output(record["output"], case, record["source"], notes=notes(case, record["source"])),
            }
        )
        if case.reference:
            for section, metrics in score_sections(record["output"], case.reference).items():
                section_rows.append({**base, "section": section, **metrics})
    if include_reference:
        for case_id, source in sorted({(r["case_id"], r["source"]) for r in ok.to_dict("records")}):
            case = by_id[case_id]
            if not case.reference:
                continue
            values = score_output(case.reference, case, source, notes=notes(case, source), reference=False)
            rows.append({**reference_row(case_id, source), **values})
    columns = [*keys, *METRIC_NAMES, "unsupported", "unverifiable", "missed_facts", "missing_sections"]
    section_columns = [*keys, "section", *SECTION_METRICS]
    return Scores(
        rows=pd.DataFrame(rows, columns=columns),
        sections=pd.DataFrame(section_rows, columns=section_columns),
    )
