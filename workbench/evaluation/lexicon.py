"""Drug and event spellings grouped by what they name, found in canonical text with one regular expression.

The lists ship with the package (``drugs.txt``: generic, brand and abbreviation of one drug on one line;
``events.txt``: procedures, tests, measurements and transfers); a case's ``facts.json`` drugs extend them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from importlib import resources

from workbench.evaluation.normalize import match_form


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
            # A group sharing a spelling with an earlier one is the same drug (a case's facts.json aliases).
            index = next((self._group_of[s] for s in spellings if s in self._group_of), len(self.groups))
            if index == len(self.groups):
                self.groups.append(spellings)
            else:
                self.groups[index] = tuple(dict.fromkeys([*self.groups[index], *spellings]))
            for spelling in spellings:
                self._group_of.setdefault(spelling, index)
        alternatives = [_bounded(s) for s in sorted(self._group_of, key=len, reverse=True)]
        self._re = re.compile("|".join(alternatives)) if alternatives else None
        self._patterns: dict[int, re.Pattern[str]] = {}

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

    def mentions(self, text: str, group: int) -> bool:
        """Whether canonical ``text`` holds any spelling of ``group`` (also inside a longer spelling)."""
        if group not in self._patterns:
            spellings = sorted(self.groups[group], key=len, reverse=True)
            self._patterns[group] = re.compile("|".join(_bounded(s) for s in spellings))
        return self._patterns[group].search(text) is not None

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
def _groups_in(name: str) -> tuple[tuple[str, ...], ...]:
    """The groups of a shipped list: one group a line, spellings separated by commas, ``#`` comments."""
    text = resources.files("workbench.evaluation").joinpath(name).read_text(encoding="utf-8")
    return tuple(
        tuple(s.strip() for s in line.split(",") if s.strip())
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def _default_groups() -> tuple[tuple[str, ...], ...]:
    return _groups_in("drugs.txt")


def _default_events() -> tuple[tuple[str, ...], ...]:
    return _groups_in("events.txt")


@functools.cache
def default_events() -> DrugLexicon:
    """Procedures, tests, measurements and transfers (``events.txt``), grouped by event like drugs."""
    return DrugLexicon(_default_events())
