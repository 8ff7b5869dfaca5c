"""Sentences and clauses of canonical summary text: where a claim's context starts and ends.

A sentence ends at 。, a line break or a semicolon; a clause is the part of a sentence a date or number is
read with. Section headings and template marks are not sentences.
"""

from __future__ import annotations

import re

BOUNDARY_RE = re.compile(r"[。\n;；]")
"""Where a sentence (and a clause) ends."""


def clause_start(text: str, position: int) -> int:
    """Start of the clause holding ``position`` (after the last 。, line break or semicolon)."""
    last = 0
    for found in BOUNDARY_RE.finditer(text, 0, position):
        last = found.end()
    return last


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The clause around ``text[start:end]``: from its clause start to the next boundary (or the end)."""
    low = clause_start(text, start)
    high = BOUNDARY_RE.search(text, end)
    return low, high.start() if high else len(text)


HEADING_MARKS = " ・-*#【】[]■●◆:："


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of canonical ``text``: split at 。 and line breaks; headings and marks alone skipped."""
    from workbench.summary.sections import SECTIONS

    names = {name.lower() for name in SECTIONS} | {"重大な身体所見及びその他の所見", "入院後経過"}
    spans = []
    low = 0
    for match in [*BOUNDARY_RE.finditer(text), None]:
        high = match.start() if match else len(text)
        piece = text[low:high].strip(HEADING_MARKS + "\t")
        skip = piece.startswith(("<template", "</template", "(抽出型", "（抽出型"))
        if len(piece) >= 2 and piece not in names and not skip:
            spans.append((low, high))
        low = match.end() if match else len(text)
    return spans
