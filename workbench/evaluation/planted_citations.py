"""A planted-error set for the citation-support check: summary sentences with known wrong citations.

Made deterministically from the corpus (``eval/cases``) and kept in ``eval/citations/planted.jsonl``. The
sentences are those of the extractive baseline's cited summary (:mod:`workbench.summary.backends.baseline`)
that the support check accepts. From each case, with a seeded choice:

- ``wrong_day``: the citation is replaced by the entry of the same writer and part from another day that is
  most like the right one (a plan copied from day to day is the commonest way to cite the wrong day);
- ``missing_id``: the citation is replaced by an ID of the right form that the case does not have;
- ``wrong_value``: the right citation, but a number of the sentence is changed;
- ``control``: the sentence unchanged (a well-cited sentence must not be flagged).

:func:`detection` runs each item through the report's own metric
(:func:`workbench.evaluation.citations.output_citation_scores`): a planted error is *caught* when the
sentence's citation support is 0.
"""

from __future__ import annotations

import difflib
import json
import logging
import random
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from workbench.evaluation.citations import SupportChecker, output_citation_scores
from workbench.summary.backends.baseline import extractive_summary
from workbench.summary.cases import Case
from workbench.summary.citations import cite_sentences, format_citation, strip_citations
from workbench.summary.entries import ADMISSION_PART
from workbench.summary.sections import parse_sections

logger = logging.getLogger(__name__)

KINDS = ("wrong_day", "missing_id", "wrong_value", "control")
PLANTED_FILE = Path(__file__).resolve().parents[2] / "eval" / "citations" / "planted.jsonl"
"""Where the set is kept in the repository."""
_NUMBER_RE = re.compile(r"(?<![\d.A-Za-z:/-])(\d+)(\.\d+)?(?![\d月日/:-])")


def _retarget(sentence: str, ids: list[str], new: list[str]) -> str:
    return strip_citations(sentence) + format_citation(new) if ids else sentence


def _change_number(text: str, rng: random.Random) -> str | None:
    matches = [m for m in _NUMBER_RE.finditer(text) if int(m.group(1)) > 0]
    if not matches:
        return None
    match = rng.choice(matches)
    whole = int(match.group(1))
    changed = f"{whole * 2 + 3}{match.group(2) or ''}"
    return text[: match.start()] + changed + text[match.end():]


def planted_items(cases: Iterable[Case], *, seed: int = 0) -> list[dict[str, Any]]:
    """The planted set: one item per kind of :data:`KINDS` per case where one can be made.

    Returns
    -------
    list of dict
        ``case_id``, ``kind``, ``section``, ``sentence`` (as planted, with its citation), ``original``.
    """
    items = []
    for case in sorted(cases, key=lambda c: c.case_id):
        rng = random.Random(f"{seed}:{case.case_id}")
        checker = SupportChecker(case)
        output = extractive_summary(case, "both", cite=True)
        good = [s for s in cite_sentences(parse_sections(output).sections, checker.index)
                if len(s.citations) == 1 and checker.supported(s)]
        if not good:
            continue
        notes = [s for s in good if s.citations[0].split("-")[2][0] != ADMISSION_PART]
        chosen: dict[str, tuple[Any, str]] = {}
        control = rng.choice(good)
        chosen["control"] = (control, control.text)
        if notes:
            sentence = rng.choice(notes)
            entry = checker.index[sentence.citations[0]]
            others = [i for i in checker.index.ids()
                      if checker.index[i].author is entry.author and checker.index[i].part == entry.part
                      and checker.index[i].date != entry.date]
            if others:
                # the hardest wrong day: the other day's entry most like the right one (a copied plan)
                likeness = {
                    other: difflib.SequenceMatcher(a=entry.text, b=checker.index[other].text).ratio()
                    for other in others
                }
                wrong = max(others, key=likeness.__getitem__)
                chosen["wrong_day"] = (sentence, _retarget(sentence.text, sentence.citations, [wrong]))
        sentence = rng.choice(good)
        day, author, part = sentence.citations[0].split("-")
        missing = f"{day}-{author}-{part[0]}99"
        chosen["missing_id"] = (sentence, _retarget(sentence.text, sentence.citations, [missing]))
        numbered = [s for s in good if _change_number(s.plain, rng) is not None]
        if numbered:
            sentence = rng.choice(numbered)
            changed = _change_number(sentence.plain, rng)
            chosen["wrong_value"] = (sentence, f"{changed}{format_citation(sentence.citations)}")
        for kind in KINDS:
            if kind in chosen:
                original, planted = chosen[kind]
                items.append({"case_id": case.case_id, "kind": kind, "section": original.section,
                              "sentence": planted, "original": original.text})
    return items


def write_planted(items: Iterable[Mapping[str, Any]], path: str | Path = PLANTED_FILE) -> Path:
    """Write the set as JSON lines (atomically)."""
    from workbench.files import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(dict(item), ensure_ascii=False) + "\n" for item in items)
    atomic_write(path, text.encode("utf-8"))
    return path


def read_planted(path: str | Path = PLANTED_FILE) -> list[dict[str, Any]]:
    """The set as kept in ``eval/``."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def detection(items: Iterable[Mapping[str, Any]], cases: Mapping[str, Case]) -> dict[str, dict[str, float]]:
    """Share of items flagged (citation support 0) per kind, with counts.

    Returns
    -------
    dict
        kind -> ``{"n": items, "flagged": flagged, "rate": flagged / n}``. For ``control`` the rate is the
        false-alarm rate; for the others, the detection rate.
    """
    checkers: dict[str, SupportChecker] = {}
    counts: dict[str, list[int]] = {}
    for item in items:
        case = cases[item["case_id"]]
        checker = checkers.setdefault(case.case_id, SupportChecker(case))
        scores = output_citation_scores(f"・ {item['section']}\n{item['sentence']}", checker)
        flagged = scores["citation_support"] == 0
        tally = counts.setdefault(item["kind"], [0, 0])
        tally[0] += 1
        tally[1] += int(flagged)
    return {kind: {"n": n, "flagged": f, "rate": f / n} for kind, (n, f) in counts.items()}
