"""Citation and review metrics: are sentences cited, do the cited entries say it, what did physicians change.

Per output of a citing prompt (front matter ``citations: true``, v5 and v6):

- **citation coverage**: share of sentences with at least one valid citation (sentences that say only
  「記載なし」 are not counted: the prompt asks for no citation there);
- **citation validity**: share of cited IDs that exist in the case (malformed markup counts as an invalid ID);
  NaN when nothing is cited;
- **citation support**: share of cited sentences whose checkable claims (numbers with their units, dates,
  drugs: :mod:`workbench.evaluation.grounding`) are *all* found in the entries they cite, not merely somewhere
  in the notes. A cited entry stands for its day too: a date is supported by the day of a cited entry. A
  sentence that cites only IDs that do not exist has nothing to support it. Sentences without a checkable
  claim are not counted; NaN when no cited sentence has one.

Prompts that do not ask for citations get no citation scores (blank in the tables, never zero).

Per reviewed section (:mod:`workbench.summary.review`), where reviews exist:

- **edit distance**: normalised character edit distance (Levenshtein distance / length of the longer text,
  RapidFuzz) from the draft (markers removed) to the accepted text; 0 = accepted as drafted;
- **sentences unchanged**: share of the draft's sentences found verbatim in the accepted text;
- **seconds to accept**: from opening the draft to accepting it (per review).

Tables average repeats and reviews per case first, then give the mean, a bootstrap interval over cases
(:func:`workbench.evaluation.stats.bootstrap_ci`) and ``n`` (cases).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from workbench.errors import NotFoundError
from workbench.evaluation.facts import FactCategory
from workbench.evaluation.grounding import NotesChecker
from workbench.evaluation.lexicon import DrugLexicon
from workbench.evaluation.stats import bootstrap_ci
from workbench.records.schema import GROUP_COLUMNS
from workbench.summary.cases import Case, resolve_relative_dates
from workbench.summary.citations import Sentence, cite_sentences, split_sentences, strip_citations
from workbench.summary.entries import EntryIndex
from workbench.summary.prompts import PromptRegistry
from workbench.summary.review import Review
from workbench.summary.sections import parse_sections

logger = logging.getLogger(__name__)

CITATION_METRICS = {
    "citation_coverage": "Citation coverage",
    "citation_validity": "Citation validity",
    "citation_support": "Citation support",
}
"""Citation metric columns and their labels."""
EDIT_METRICS = {
    "edit_distance": "Edit distance (norm.)",
    "sentences_unchanged": "Sentences unchanged",
    "seconds_to_accept": "Seconds to accept",
}
"""Review metric columns and their labels."""
_NOTHING = "記載なし"


def citing_versions(versions: Iterable[str], registry: PromptRegistry | None = None) -> dict[str, bool]:
    """Which prompt versions ask for citations (a version no longer in the registry: no)."""
    registry = registry or PromptRegistry()
    found = {}
    for version in versions:
        try:
            found[str(version)] = registry.get(str(version)).citations
        except NotFoundError:
            logger.warning("prompt %s is not in %s: no citation scores for it", version, registry.root)
            found[str(version)] = False
    return found


class SupportChecker:
    """Checks cited sentences of one case against the entries they cite.

    Parameters
    ----------
    case : Case
    lexicon : DrugLexicon, optional
    """

    def __init__(self, case: Case, *, lexicon: DrugLexicon | None = None) -> None:
        self.case = case
        self.index = EntryIndex(case)
        self.lexicon = lexicon or DrugLexicon.default()
        drugs = (case.facts or {}).get(FactCategory.DRUGS.value) or []
        self._drugs = [[d["name"], *(d.get("aliases") or [])] for d in drugs if isinstance(d, Mapping)
                       and d.get("name")]
        self._checkers: dict[frozenset[str], NotesChecker] = {}

    def _checker(self, ids: frozenset[str]) -> NotesChecker:
        if ids not in self._checkers:
            parts = []
            for entry_id in sorted(ids):
                entry = self.index[entry_id]
                parts.append(f"{entry.date.isoformat()} {resolve_relative_dates(entry.text, entry.date)}")
            self._checkers[ids] = NotesChecker(
                "\n".join(parts), anchor=self.case.admission_date, lexicon=self.lexicon,
                extra_drugs=self._drugs,
            )
        return self._checkers[ids]

    def supported(self, sentence: Sentence) -> bool | None:
        """Whether every checkable claim is in the cited entries; None if uncited or nothing to check."""
        if not sentence.citations and not sentence.invalid_citations:
            return None
        grounding = self._checker(frozenset(sentence.citations)).check(sentence.plain)
        if not grounding.claims:
            return None
        return not grounding.unsupported


def output_citation_scores(output: str, checker: SupportChecker) -> dict[str, Any]:
    """The citation metrics of one output (see the module docstring), with counts.

    Returns
    -------
    dict
        n_sentences, citation_coverage, citation_validity, citation_support, n_checked (cited sentences with
        a checkable claim), unsupported_sentences (their texts).
    """
    sentences = cite_sentences(parse_sections(output).sections, checker.index)
    counted = [s for s in sentences if s.plain.strip("。 ") != _NOTHING]
    valid = sum(len(s.citations) for s in sentences)
    cited = valid + sum(len(s.invalid_citations) for s in sentences)
    verdicts = [(s, checker.supported(s)) for s in sentences]
    checked = [(s, v) for s, v in verdicts if v is not None]
    return {
        "n_sentences": len(counted),
        "citation_coverage": (sum(not s.uncited for s in counted) / len(counted)) if counted else math.nan,
        "citation_validity": valid / cited if cited else math.nan,
        "citation_support": (sum(v for _, v in checked) / len(checked)) if checked else math.nan,
        "n_checked": len(checked),
        "unsupported_sentences": [s.text for s, v in checked if not v],
    }


def citation_scores(
    results: pd.DataFrame,
    cases: Mapping[str, Case],
    *,
    citing: Mapping[str, bool] | None = None,
) -> pd.DataFrame:
    """Citation metrics of every successful output of a run.

    Parameters
    ----------
    results : pandas.DataFrame
        :func:`workbench.evaluation.runs.load_run` rows.
    cases : mapping
        Case id -> Case.
    citing : mapping, optional
        Prompt version -> asks for citations (default: :func:`citing_versions`).

    Returns
    -------
    pandas.DataFrame
        key, prompt_version, model, source, case_id, repeat, citing, and the metrics of
        :func:`output_citation_scores` (NaN for outputs of prompts that do not cite).
    """
    ok = results[results["ok"]] if "ok" in results else results
    citing = dict(citing) if citing is not None else citing_versions(sorted(set(ok["prompt_version"])))
    lexicon = DrugLexicon.default()
    checkers: dict[str, SupportChecker] = {}
    rows = []
    for record in ok.to_dict("records"):
        base = {k: record.get(k) for k in ("key", *GROUP_COLUMNS, "case_id", "repeat")}
        base["citing"] = bool(citing.get(str(record["prompt_version"]), False))
        case = cases.get(record["case_id"])
        if not base["citing"] or case is None:
            rows.append({**base, **dict.fromkeys(CITATION_METRICS, math.nan)})
            continue
        if case.case_id not in checkers:
            checkers[case.case_id] = SupportChecker(case, lexicon=lexicon)
        rows.append({**base, **output_citation_scores(str(record["output"]), checkers[case.case_id])})
    columns = ["key", *GROUP_COLUMNS, "case_id", "repeat", "citing", *CITATION_METRICS, "n_sentences",
               "n_checked", "unsupported_sentences"]
    return pd.DataFrame(rows, columns=columns)


def section_edits(review: Review) -> list[dict[str, Any]]:
    """Edit metrics of each section of one review (see the module docstring)."""
    from rapidfuzz.distance import Levenshtein

    rows = []
    for section, draft in review.draft.items():
        accepted = review.accepted.get(section, "")
        sentences = [strip_citations(s) for s in split_sentences(draft)]
        kept = [s for s in sentences if s and s in accepted]
        rows.append(
            {
                "generation_id": review.generation_id,
                "review_id": review.id,
                "reviewer": review.reviewer,
                "section": section,
                "edit_distance": Levenshtein.normalized_distance(draft, accepted),
                "sentences_unchanged": len(kept) / len(sentences) if sentences else math.nan,
                "seconds_to_accept": review.seconds_to_accept,
            }
        )
    return rows


def edit_scores(results: pd.DataFrame, reviews: Iterable[Review]) -> pd.DataFrame:
    """Edit metrics of every reviewed section of the run's generations (one row per review and section)."""
    by_generation = {
        str(r["generation_id"]): r for r in results.to_dict("records") if pd.notna(r.get("generation_id"))
    }
    rows: list[dict[str, Any]] = []
    for review in reviews:
        record = by_generation.get(review.generation_id)
        if record is None:
            continue
        base = {k: record.get(k) for k in ("key", *GROUP_COLUMNS, "case_id")}
        rows.extend({**base, **row} for row in section_edits(review))
    columns = ["key", *GROUP_COLUMNS, "case_id", "generation_id", "review_id", "reviewer", "section",
               *EDIT_METRICS]
    return pd.DataFrame(rows, columns=columns)


def _interval_rows(
    frame: pd.DataFrame, keys: list[str], metrics: Mapping[str, str], *, seed: int
) -> list[dict[str, Any]]:
    """Mean, bootstrap interval and n (cases) per group of ``keys``; cases averaged first."""
    records: list[dict[str, Any]] = []
    if frame.empty:
        return records
    numeric = frame[[*keys, "case_id", *metrics]].copy()
    numeric[list(metrics)] = numeric[list(metrics)].apply(pd.to_numeric, errors="coerce")
    grouped = numeric.groupby([*keys, "case_id"], as_index=False, sort=True, dropna=False)
    per_case = grouped[list(metrics)].mean()
    for group, part in per_case.groupby(keys, sort=True, dropna=False):
        group = group if isinstance(group, tuple) else (group,)
        for metric, label in metrics.items():
            ci = bootstrap_ci(part[metric].to_numpy(), seed=seed)
            records.append({**dict(zip(keys, group, strict=True)), "metric": metric, "label": label,
                            "n": ci.n, "mean": ci.mean, "low": ci.low, "high": ci.high})
    return records


def citation_table(scores: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Citation metrics per (prompt_version, model, source): n (cases), mean, low, high.

    Configurations whose prompt does not ask for citations have ``n`` 0 and NaN values (shown blank).
    """
    columns = [*GROUP_COLUMNS, "citing", "metric", "label", "n", "mean", "low", "high"]
    rows = _interval_rows(scores, [*GROUP_COLUMNS, "citing"], CITATION_METRICS, seed=seed)
    return pd.DataFrame(rows, columns=columns)


def edit_table(edits: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Edit metrics per (prompt_version, model, source, section): n (cases), mean, low, high."""
    columns = [*GROUP_COLUMNS, "section", "metric", "label", "n", "mean", "low", "high"]
    return pd.DataFrame(_interval_rows(edits, [*GROUP_COLUMNS, "section"], EDIT_METRICS, seed=seed),
                        columns=columns)


def _cell(row: pd.Series, digits: int) -> str:
    if not row["n"] or pd.isna(row["mean"]):
        return ""
    interval = "" if pd.isna(row["low"]) else f" [{row['low']:.{digits}f}, {row['high']:.{digits}f}]"
    return f"{row['mean']:.{digits}f}{interval} (n={int(row['n'])})"


def wide(table: pd.DataFrame, index: list[str], *, digits: int = 2) -> pd.DataFrame:
    """A long table as one row per ``index`` group and one ``mean [low, high] (n=..)`` cell per metric.

    Cells without values are empty strings (blank, not zero); the ``n`` column gives the most cases any of
    the group's metrics rests on.
    """
    if table.empty:
        return pd.DataFrame()
    cells = table.assign(cell=table.apply(_cell, axis=1, digits=digits))
    frame = cells.pivot_table(index=index, columns="label", values="cell", aggfunc="first", sort=False)
    frame = frame[[label for label in dict.fromkeys(table["label"]) if label in frame.columns]]
    frame.columns.name = None
    # Every table shows its n: the cases a group's cells rest on (0 where the prompt asks for no citations).
    counts = table.groupby(index, sort=False)["n"].max().astype(int)
    frame.insert(0, "n", counts.reindex(frame.index).fillna(0).astype(int).to_numpy())
    return frame


def citation_tables(
    results: pd.DataFrame,
    cases: Mapping[str, Case],
    *,
    reviews: Iterable[Review] | None = None,
    citing: Mapping[str, bool] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The report's long tables: citation metrics per configuration; edits per configuration and section.

    Parameters
    ----------
    results, cases, citing
        As for :func:`citation_scores`.
    reviews : iterable of Review, optional
        Default: every review beside the default history (``open_review_store(open_history())``); reviews of
        generations outside the run are ignored.
    """
    if reviews is None:
        from workbench.summary.history import open_history
        from workbench.summary.review import open_review_store

        reviews = open_review_store(open_history()).reviews()
    return (
        citation_table(citation_scores(results, cases, citing=citing)),
        edit_table(edit_scores(results, reviews)),
    )


def citation_context(citations: pd.DataFrame | None, edits: pd.DataFrame | None) -> dict[str, Any]:
    """The report page's ``citations_html`` and ``edits_html`` (None when there is nothing to show)."""
    from markupsafe import Markup

    citation_wide, edit_wide = citation_frames(citations, edits)

    def html(frame: pd.DataFrame) -> Markup | None:
        return None if frame.empty else Markup(frame.to_html(escape=True, na_rep=""))

    return {"citations_html": html(citation_wide), "edits_html": html(edit_wide)}


def citation_frames(
    citations: pd.DataFrame | None, edits: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The citation and edit tables as notebook 04 and the report show them.

    One row per configuration (edits: per configuration and section), ``mean [low, high] (n=..)`` cells,
    blank where nothing applies.
    """
    citation_wide = wide(citations, list(GROUP_COLUMNS)) if citations is not None else pd.DataFrame()
    edit_wide = wide(edits, [*GROUP_COLUMNS, "section"]) if edits is not None else pd.DataFrame()
    return citation_wide, edit_wide
