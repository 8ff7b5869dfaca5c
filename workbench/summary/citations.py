"""Citations in a generated summary: the one syntax, and splitting a summary into cited sentences.

The syntax
----------
A sentence ends with the IDs of the entries it rests on (:mod:`workbench.summary.entries`), in ASCII square
brackets, separated by ``", "``, right after its ``。`` (or at the end of a line that has none)::

    7月28日に抗菌薬をTAZ/PIPCへ変更した。[0728-医-P1, 0728-医-O1]

Reading a summary back, each sentence (text up to ``。`` or the end of a line, with the citation groups that
follow it) becomes a :class:`Sentence`:

- ``citations``: the IDs cited that exist in the case;
- ``invalid_citations``: IDs of the right form that do not exist, and malformed markup kept verbatim (a
  bracket group that looks like a citation but is not in the syntax: ``[0725医O1]``, ``［0725-医-O1］``,
  ``[1]``, an unclosed ``[0725-医-O1``);
- a sentence whose ``citations`` is empty is *uncited*.

A model that ignores the syntax gives uncited sentences; nothing fails.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Container, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.summary.entries import ID_RE
from workbench.summary.sections import format_sections

logger = logging.getLogger(__name__)

_GROUP = r"\[[^\[\]\n]*\]|［[^［］\n]*］|【[^【】\n]*】"
_GROUP_RE = re.compile(_GROUP)
_UNCLOSED_RE = re.compile(r"[\[［][^\[\]［］\n]*$")
_SENTENCE_RE = re.compile(rf"[^。\n]*。(?:[ \t]*(?:{_GROUP}))*|[^。\n]+")
_SEPARATOR_RE = re.compile(r"\s*,\s*")
_CITATION_LIKE_RE = re.compile(r"\d|[医看]-")


def format_citation(ids: Iterable[str]) -> str:
    """The citation group of ``ids``: ``[0725-医-O1, 0726-看-S1]`` (empty string for no IDs)."""
    ids = list(dict.fromkeys(ids))
    return f"[{', '.join(ids)}]" if ids else ""


@dataclass
class Sentence:
    """One sentence of a summary with what it cites.

    Attributes
    ----------
    section : str
        The template section it is in.
    text : str
        As written, citation markup included.
    citations : list of str
        Cited IDs that exist in the case.
    invalid_citations : list of str
        Cited IDs that do not exist, and malformed markup verbatim.
    """

    section: str
    text: str
    citations: list[str] = field(default_factory=list)
    invalid_citations: list[str] = field(default_factory=list)

    @property
    def uncited(self) -> bool:
        """No valid citation."""
        return not self.citations

    @property
    def plain(self) -> str:
        """The text without citation markup (what a physician reads with markers hidden)."""
        return strip_citations(self.text)

    def to_dict(self) -> dict[str, Any]:
        """``{"section", "text", "citations", "invalid_citations"}``."""
        return asdict(self)


def _is_citation_like(group: str) -> bool:
    inner = group[1:-1] if group[-1:] in "]］】" else group[1:]
    return bool(_CITATION_LIKE_RE.search(inner))


def _groups(text: str) -> list[str]:
    """The citation-like bracket groups of ``text`` (closed ones, then an unclosed one at its end)."""
    found = [m.group(0) for m in _GROUP_RE.finditer(text) if _is_citation_like(m.group(0))]
    unclosed = _UNCLOSED_RE.search(_GROUP_RE.sub("", text))
    if unclosed and _is_citation_like(unclosed.group(0)):
        found.append(unclosed.group(0))
    return found


def strip_citations(text: str) -> str:
    """``text`` with every citation group (valid or malformed) removed."""
    for group in _groups(text):
        text = text.replace(group, "")
    return re.sub(r"[ \t]+(?=。|$)", "", text, flags=re.M).strip()


def split_sentences(text: str) -> list[str]:
    """Split text into sentences: up to each ``。`` (with the citation groups right after it) or line end.

    A line holding only citation groups belongs to the sentence before it. Blank lines are dropped.
    """
    sentences: list[str] = []
    for line in text.splitlines():
        for match in _SENTENCE_RE.finditer(line):
            chunk = match.group(0).strip()
            if not chunk:
                continue
            if sentences and not strip_citations(chunk) and _groups(chunk):
                sentences[-1] += chunk
            else:
                sentences.append(chunk)
    return sentences


def read_citations(sentence: str, known: Container[str]) -> tuple[list[str], list[str]]:
    """``(citations, invalid_citations)`` of one sentence; see the module docstring."""
    valid: list[str] = []
    invalid: list[str] = []
    for group in _groups(sentence):
        if not (group.startswith("[") and group.endswith("]")):
            invalid.append(group)
            continue
        tokens = [t for t in _SEPARATOR_RE.split(group[1:-1].strip()) if t]
        if not tokens or not all(ID_RE.fullmatch(t) for t in tokens):
            invalid.append(group)
            continue
        for token in tokens:
            (valid if token in known else invalid).append(token)
    return list(dict.fromkeys(valid)), list(dict.fromkeys(invalid))


def cite_sentences(sections: Mapping[str, str], known: Container[str]) -> list[Sentence]:
    """Every sentence of every section with its citations checked against ``known`` IDs.

    Parameters
    ----------
    sections : mapping
        Section name -> text (:func:`workbench.summary.sections.parse_sections`).
    known : container of str
        The case's entry IDs (an :class:`~workbench.summary.entries.EntryIndex`).

    Returns
    -------
    list of Sentence
        In section and text order.
    """
    sentences = []
    for section, text in sections.items():
        for chunk in split_sentences(text):
            valid, invalid = read_citations(chunk, known)
            sentences.append(Sentence(section, chunk, valid, invalid))
    return sentences


def as_sentences(rows: Iterable[Sentence | Mapping[str, Any]]) -> list[Sentence]:
    """Sentences from their dicts (as stored in history) or as they are."""
    return [row if isinstance(row, Sentence) else Sentence(**dict(row)) for row in rows]


def sentences_text(rows: Iterable[Sentence | Mapping[str, Any]], *, markers: bool = True) -> str:
    """The summary in the template's layout from its sentences, with or without the citation markers."""
    sections: dict[str, list[str]] = {}
    for sentence in as_sentences(rows):
        sections.setdefault(sentence.section, []).append(sentence.text if markers else sentence.plain)
    return format_sections({name: "\n".join(lines) for name, lines in sections.items()})
