"""Unsupported content: numbers, dates and drug names in a summary that appear nowhere in the source notes.

This is a hallucination proxy, not a judgement: a summary may legitimately compute a number (a length of
stay) or name a drug class, and a summary may invent a symptom without any number, date or drug. What it
catches cheaply and reproducibly is the commonest harmful kind: a dose, a lab value, a date or a drug the
notes never mention.

Both texts are brought to the canonical form of :mod:`workbench.evaluation.normalize` first (``１０ｍｇ`` =
``10mg``; ``7月25日`` = ``2023-07-25`` in the case's year). Then, in the summary,

- dates are the ISO dates; one is supported when the notes hold the same date (relative words in the
  notes, "昨日", count as the date they mean when the notes are given as
  ``case.karte(source, annotate_dates=True)``);
- drugs are the spellings of the lexicon ``drugs.txt`` (generic, brand and abbreviation of one drug
  are one drug: "TAZ/PIPC" in the notes supports "タゾバクタム・ピペラシリン"), the case's own
  ``facts.json`` drugs, and katakana words with a drug-name ending (-シリン, -マイシン, -サルタン ...);
- numbers are the remaining decimal numbers with their unit if they have one. A number is supported when the
  notes hold the same value (``5.0`` = ``5``) with the same unit, or without any unit; a number without a unit
  is supported by the same value with any unit ("40mg" is not supported by "40mL" nor "40g" in the notes).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources

from workbench.evaluation.normalize import ISO_DATE_RE, UNITS, match_form, normalize

logger = logging.getLogger(__name__)

DRUG_SUFFIX_RE = re.compile(
    r"^(?:セフ[ァ-ヺー]{2,}|[ァ-ヺー]{2,}(?:シリン|マイシン|ペネム|サルタン|プリル|ジピン|スタチン|キサシン|ゾラム"
    r"|ロロール|ジロール|グリプチン|グリフロジン|セミド|ゾロン|メタゾン|バプタン|キサバン|プラゾール|ナゾール"
    r"|プロフェン|ミノフェン|ビル|マブ|ニブ|パリン|ラクトン|チアジド|トロピウム|テロール|ラセタム))$"
)
"""A katakana word with an ending typical of drug names (the generic-name stems of the JAN/INN system)."""
_KATAKANA_RUN_RE = re.compile(r"[ァ-ヺー]{3,}")
COUNTERS = (
    "歳",
    "日",
    "日間",
    "病日",
    "回",
    "錠",
    "包",
    "週",
    "週間",
    "年",
    "ヶ月",
    "か月",
    "カ月",
    "時間",
    "分",
    "時",
    "度",
    "l/分",
    "回/分",
    "/分",
    "cm",
    "mm",
)
"""Counter words and extra units a number is read with, besides :data:`~workbench.evaluation.normalize.UNITS`
("40歳" in the notes does not support "40mg")."""
_NUMBER_RE = re.compile(
    r"(?<![\d.])(?P<value>\d+(?:\.\d+)?)(?![\d])(?:(?P<unit>"
    + "|".join(re.escape(u.lower()) for u in sorted([*UNITS, *COUNTERS], key=len, reverse=True))
    + r")(?![a-z]))?"
)


class ClaimKind(enum.StrEnum):
    """What kind of checkable content a claim is."""

    NUMBER = "number"
    DATE = "date"
    DRUG = "drug"


@dataclass(frozen=True)
class Claim:
    """One distinct number, date or drug of a summary, and whether the notes support it."""

    kind: ClaimKind
    text: str
    supported: bool


@dataclass
class Grounding:
    """The checkable content of a summary.

    Attributes
    ----------
    claims : list of Claim
        Distinct (kind, text) pairs in order of appearance.
    """

    claims: list[Claim] = field(default_factory=list)

    @property
    def n_claims(self) -> int:
        """Number of distinct numbers, dates and drugs."""
        return len(self.claims)

    @property
    def unsupported(self) -> list[Claim]:
        """The claims the notes do not support."""
        return [c for c in self.claims if not c.supported]

    @property
    def unsupported_rate(self) -> float:
        """Unsupported / all claims; NaN for a summary without any."""
        return len(self.unsupported) / self.n_claims if self.claims else math.nan


class DrugLexicon:
    """Drug spellings grouped by drug, found in canonical text with one regular expression.

    Parameters
    ----------
    groups
        Each group lists the spellings of one drug (any case or width; they are canonicalised).
    """

    def __init__(self, groups: Iterable[Sequence[str]]) -> None:
        self.groups: list[tuple[str, ...]] = []
        self._group_of: dict[str, int] = {}
        for group in groups:
            spellings = tuple(dict.fromkeys(s for s in (match_form(x) for x in group) if s))
            if not spellings:
                continue
            for spelling in spellings:
                self._group_of.setdefault(spelling, len(self.groups))
            self.groups.append(spellings)
        alternatives = [_bounded(s) for s in sorted(self._group_of, key=len, reverse=True)]
        self._re = re.compile("|".join(alternatives)) if alternatives else None

    @classmethod
    def default(cls) -> DrugLexicon:
        """The lexicon shipped in ``workbench/evaluation/drugs.txt``."""
        return cls(_default_groups())

    def extended(self, groups: Iterable[Sequence[str]]) -> DrugLexicon:
        """A new lexicon with ``groups`` added (e.g. a case's ``facts.json`` drugs and their aliases)."""
        return DrugLexicon([*self.groups, *groups])

    def find(self, text: str) -> list[tuple[int, str, int, int]]:
        """Drug spellings in canonical ``text``: (group index, spelling, start, end), longest at a place."""
        if self._re is None:
            return []
        return [(self._group_of[m.group(0)], m.group(0), m.start(), m.end()) for m in self._re.finditer(text)]

    def group_of(self, spelling: str) -> int | None:
        """Index of the group of a canonical ``spelling``, None if the lexicon does not know it."""
        return self._group_of.get(spelling)


def _bounded(spelling: str) -> str:
    """A regex for ``spelling`` that does not match inside a longer ASCII word ("ms" in "msw")."""
    pattern = re.escape(spelling)
    if spelling[0].isascii() and spelling[0].isalnum():
        pattern = r"(?<![a-z0-9])" + pattern
    if spelling[-1].isascii() and spelling[-1].isalnum():
        pattern += r"(?![a-z0-9])"
    return pattern


@functools.cache
def _default_groups() -> tuple[tuple[str, ...], ...]:
    text = resources.files("workbench.evaluation").joinpath("drugs.txt").read_text(encoding="utf-8")
    return tuple(
        tuple(s.strip() for s in line.split(",") if s.strip())
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def _number(text: str) -> str:
    try:
        return format(Decimal(text).normalize(), "f")
    except InvalidOperation:  # pragma: no cover - the regex only yields decimals
        return text


def _canonical(text: str, anchor: dt.date | None) -> str:
    """Normalised lower-case text; whitespace kept, so that "Cr 3.4 K 4.3" keeps its numbers apart."""
    return normalize(text, anchor=anchor).lower()


def _value_of(number: str) -> str:
    """The value part of a number claim ("5.6mg/dl" -> "5.6")."""
    return re.match(r"\d+(?:\.\d+)?", number).group(0)  # type: ignore[union-attr]


def _is_bare(number: str) -> bool:
    return _value_of(number) == number


def _claims_text(text: str, lexicon: DrugLexicon) -> tuple[list[tuple[ClaimKind, str]], set[int]]:
    """Claims of canonical ``text`` in order, and the lexicon groups mentioned."""
    found: list[tuple[int, ClaimKind, str]] = []
    taken = bytearray(len(text) + 1)  # 1 where a date or a drug was found: numbers there are not claims

    def take(start: int, end: int) -> None:
        taken[start:end] = b"\x01" * (end - start)

    groups: set[int] = set()
    for m in ISO_DATE_RE.finditer(text):
        found.append((m.start(), ClaimKind.DATE, m.group(0)))
        take(*m.span())
    for group, spelling, start, end in lexicon.find(text):
        found.append((start, ClaimKind.DRUG, spelling))
        groups.add(group)
        take(start, end)
    for m in _KATAKANA_RUN_RE.finditer(text):
        if DRUG_SUFFIX_RE.match(m.group(0)) and not any(taken[m.start() : m.end()]):
            found.append((m.start(), ClaimKind.DRUG, m.group(0)))
            take(*m.span())
    for m in _NUMBER_RE.finditer(text):
        if not taken[m.start()]:
            found.append((m.start(), ClaimKind.NUMBER, _number(m["value"]) + (m["unit"] or "")))
    found.sort(key=lambda item: item[0])
    return [(kind, value) for _, kind, value in found], groups


class NotesChecker:
    """The source notes of one case and source, indexed once, to check many summaries against them.

    Parameters
    ----------
    source
        Everything the model was given: admission record and notes (``case.ichigo`` and
        ``case.karte(source, annotate_dates=True)``).
    anchor
        The case's admission date, to place dates written without a year.
    lexicon
        Drug spellings (default: :meth:`DrugLexicon.default`).
    extra_drugs
        More drug groups for this case, e.g. each ``facts.json`` drug's name and aliases.
    """

    def __init__(
        self,
        source: str,
        *,
        anchor: dt.date | None = None,
        lexicon: DrugLexicon | None = None,
        extra_drugs: Iterable[Sequence[str]] = (),
    ) -> None:
        lexicon = lexicon or DrugLexicon.default()
        extra = [list(group) for group in extra_drugs]
        self.lexicon = lexicon.extended(extra) if extra else lexicon
        self.anchor = anchor
        text = _canonical(source, anchor)
        self._squeezed = re.sub(r"\s+", "", text)
        claims, self._groups = _claims_text(text, self.lexicon)
        self._known = set(claims)
        numbers = [value for kind, value in claims if kind is ClaimKind.NUMBER]
        self._bare_numbers = {value for value in numbers if _is_bare(value)}
        self._any_numbers = {_value_of(value) for value in numbers}

    def supports(self, kind: ClaimKind, value: str) -> bool:
        """Whether the notes hold a claim (canonical ``value`` of ``kind``)."""
        if kind is ClaimKind.DRUG:
            group = self.lexicon.group_of(value)
            return value in self._squeezed or (group is not None and group in self._groups)
        if kind is ClaimKind.NUMBER:
            number = _value_of(value)
            return (
                (kind, value) in self._known
                or number in self._bare_numbers
                or (_is_bare(value) and number in self._any_numbers)
            )
        return (kind, value) in self._known

    def check(self, summary: str) -> Grounding:
        """The distinct numbers, dates and drugs of ``summary``, each marked supported or not."""
        claims, _ = _claims_text(_canonical(summary, self.anchor), self.lexicon)
        result = Grounding()
        for kind, value in dict.fromkeys(claims):
            result.claims.append(Claim(kind, value, self.supports(kind, value)))
        return result


def grounding(
    summary: str,
    source: str,
    *,
    anchor: dt.date | None = None,
    lexicon: DrugLexicon | None = None,
    extra_drugs: Iterable[Sequence[str]] = (),
) -> Grounding:
    """Check which numbers, dates and drug names of ``summary`` occur in ``source``.

    A shortcut for ``NotesChecker(source, ...).check(summary)``; to check many summaries against the same
    notes, keep the :class:`NotesChecker`.

    Parameters
    ----------
    summary
        The generated (or physician-written) summary.
    source, anchor, lexicon, extra_drugs
        As for :class:`NotesChecker`.

    Returns
    -------
    Grounding
    """
    return NotesChecker(source, anchor=anchor, lexicon=lexicon, extra_drugs=extra_drugs).check(summary)
