"""Fact recall: how many of the key facts in a case's ``facts.json`` a summary carries.

A fact is found when, in the canonical form of :mod:`workbench.evaluation.normalize` (NFKC, units and dates
in one spelling, lower case, no whitespace):

- diagnoses, comorbidities, drugs, procedures: its name or one of its aliases occurs in the summary (for drugs
  the action - started, stopped - is not checked; the name is what a reader needs first);
- key dates: its date (ISO after normalisation, so ``8月18日`` counts for ``2023-08-18``) occurs;
- key values: its value occurs as a number (``5.6`` not inside ``15.6``) at most :data:`VALUE_WINDOW`
  characters after the name or an alias (``Cr 5.6mg/dL``, ``Crは5.6まで``).
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import CaseFormatError
from workbench.evaluation.normalize import match_form

logger = logging.getLogger(__name__)

VALUE_WINDOW = 20
"""Characters allowed between a key value's name and the value itself."""


class FactCategory(enum.StrEnum):
    """The sections of ``facts.json``."""

    DIAGNOSES = "diagnoses"
    COMORBIDITIES = "comorbidities"
    DRUGS = "drugs"
    PROCEDURES = "procedures"
    KEY_DATES = "key_dates"
    KEY_VALUES = "key_values"


@dataclass
class FactRecall:
    """Which facts of a case a summary carries.

    Attributes
    ----------
    recall : float
        Found / all facts; NaN when the case has none.
    found, missed : list of str
        Facts as ``"category: name"`` (dates and values appended).
    by_category : dict
        Recall per :class:`FactCategory` value present in the facts.
    """

    recall: float
    found: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    by_category: dict[str, float] = field(default_factory=dict)


def _names(fact: Mapping[str, Any], where: str) -> list[str]:
    name = fact.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CaseFormatError(f"{where}: a fact needs a non-empty 'name', got {fact!r}")
    aliases = fact.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise CaseFormatError(f"{where}: 'aliases' of {name!r} must be a list of strings, got {aliases!r}")
    return [name, *[a for a in aliases if a.strip()]]


def _label(category: FactCategory, fact: Mapping[str, Any]) -> str:
    label = f"{category.value}: {fact['name']}"
    if category is FactCategory.KEY_DATES:
        label += f" {fact['date']}"
    elif category is FactCategory.KEY_VALUES:
        label += f" {fact['value']}{fact.get('unit') or ''}"
    return label


def _value_found(text: str, names: list[str], value: str) -> bool:
    value_re = re.compile(r"(?<![\d.])" + re.escape(value) + r"(?![\d])")
    for name in names:
        for start in (m.end() for m in re.finditer(re.escape(name), text)):
            if value_re.search(text[start : start + VALUE_WINDOW + len(value)]):
                return True
    return False


def _found(
    category: FactCategory, fact: Mapping[str, Any], text: str, where: str, anchor: dt.date | None
) -> bool:
    # aliases are normalised like the summary, so a date inside an alias ("11月27日に終了") gets the same year
    names = [match_form(n, anchor=anchor) for n in _names(fact, where)]
    if category is FactCategory.KEY_DATES:
        date = fact.get("date")
        try:
            iso = dt.date.fromisoformat(str(date)).isoformat()
        except ValueError:
            raise CaseFormatError(
                f"{where}: key date {fact['name']!r} needs 'date': 'YYYY-MM-DD', got {date!r}"
            ) from None
        return iso in text
    if category is FactCategory.KEY_VALUES:
        value = fact.get("value")
        if value is None or not str(value).strip():
            raise CaseFormatError(f"{where}: key value {fact['name']!r} needs a 'value'")
        return _value_found(text, names, match_form(str(value)))
    return any(name in text for name in names)


def fact_recall(
    summary: str, facts: Mapping[str, Any], *, anchor: dt.date | None = None, where: str = "facts.json"
) -> FactRecall:
    """Score how many key facts ``summary`` carries.

    Parameters
    ----------
    summary
        The summary (generated or physician-written).
    facts
        The case's ``facts.json`` content.
    anchor
        The case's admission date, so that dates written without a year are placed in the case's year.
    where
        Named in error messages (the facts file's path).

    Returns
    -------
    FactRecall

    Raises
    ------
    CaseFormatError
        If a category is unknown or a fact lacks its name, date or value.
    """
    text = match_form(summary, anchor=anchor)
    result = FactRecall(recall=math.nan)
    counts: dict[str, list[int]] = {}
    for key, items in facts.items():
        try:
            category = FactCategory(key)
        except ValueError:
            known = ", ".join(c.value for c in FactCategory)
            raise CaseFormatError(
                f"{where}: unknown fact category {key!r}; expected one of {known}"
            ) from None
        if not isinstance(items, list):
            raise CaseFormatError(f"{where}: {key!r} must be a list of facts, got {type(items).__name__}")
        for fact in items:
            if not isinstance(fact, Mapping):
                raise CaseFormatError(f"{where}: each fact in {key!r} must be an object, got {fact!r}")
            hit = _found(category, fact, text, where, anchor)
            (result.found if hit else result.missed).append(_label(category, fact))
            tally = counts.setdefault(category.value, [0, 0])
            tally[0] += hit
            tally[1] += 1
    total = len(result.found) + len(result.missed)
    if total:
        result.recall = len(result.found) / total
    result.by_category = {key: hit / n for key, (hit, n) in counts.items()}
    return result
