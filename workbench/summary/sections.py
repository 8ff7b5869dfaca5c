"""The discharge-summary template (the seed's four sections) and parsing a model's output into it."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

SECTIONS: tuple[str, ...] = ("現病歴", "併存症", "重大な身体所見およびその他の所見", "入院中の治療経過")
"""The template's sections, in order (the seed's <template>)."""

_ALIASES = {
    "重大な身体所見及びその他の所見": "重大な身体所見およびその他の所見",
    "入院後経過": "入院中の治療経過",
}
# A heading line: optional list marker ("-", "*", "1."), markdown hashes, a mark (・ ■ 【 ...), the name,
# a closer.
_HEADING_RE = re.compile(
    r"^\s*(?:[-*]\s*|\d+[.)．]\s*)?(?P<hash>#+\s*)?(?P<marker>[・■●◆【\[]?)\s*\**\s*"
    r"(?P<name>[^\s:：】\]*][^:：】\]*]{0,30}?)\s*\**\s*(?P<closer>[】\]]?)\s*[:：]?\s*$"
)
_TEMPLATE_TAG_RE = re.compile(r"</?template>")
_KNOWN_NAMES = sorted({*SECTIONS, *_ALIASES}, key=len, reverse=True)
# A template heading with its text on the same line: "・ 現病歴：78歳女性。", "【現病歴】本文".
# The name must be closed off by 】/] or a colon: a sentence that merely starts with the word is not one.
_INLINE_HEADING_RE = re.compile(
    r"^\s*(?:[-*]\s*|\d+[.)．]\s*)?(?:#+\s*)?"
    r"(?P<marker>[・■●◆【\[]?)\s*\**\s*"
    r"(?P<name>" + "|".join(re.escape(n) for n in _KNOWN_NAMES) + r")\s*\**\s*"
    r"(?:(?P<closer>[】\]])\s*[:：]?|[:：])\s*(?P<text>\S.*)$"
)


@dataclass
class ParsedSummary:
    """A summary split into the template's sections.

    Attributes
    ----------
    sections : dict
        Section name -> text, for every section found (template sections in template order first).
    missing : list of str
        Template sections absent or empty.
    extra : list of str
        Headings found that are not template sections (in order of appearance).
    """

    sections: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """All four template sections present and non-empty."""
        return not self.missing


def _heading(line: str) -> str | None:
    """The section name if ``line`` is a heading: a template section, or an extra one marked strongly."""
    match = _HEADING_RE.match(line)
    if not match:
        return None
    name = _ALIASES.get(match.group("name").strip(), match.group("name").strip())
    if name in SECTIONS:
        return name
    # "・ name" is also how bullet lists inside a section look, so only 【name】, ■ name and # name
    # open extra sections.
    strong = (
        match.group("hash")
        or match.group("marker") == "■"
        or (match.group("marker") + match.group("closer") in ("【】", "[]"))
    )
    return name if strong else None


def parse_sections(text: str) -> ParsedSummary:
    """Split a summary into the template's sections.

    Headings are recognised in the forms models and physicians write them: ``・ 現病歴``, ``- ・ 現病歴``,
    ``【現病歴】``, ``■現病歴``, ``## 現病歴``, ``**現病歴**``, ``現病歴:``; a template section's heading
    may carry its first text on the same line (``・ 現病歴：78歳女性。``, ``【現病歴】本文``). A heading in
    ``【】``, after ``■`` or after ``#`` whose name is not a template section is an *extra* section
    (``・ name`` is not: it is also how bullet lists inside a section look). Text before the first heading
    and ``<template>`` tags are ignored.

    Parameters
    ----------
    text : str
        The generated or physician-written summary.

    Returns
    -------
    ParsedSummary
    """
    found: dict[str, list[str]] = {}
    order: list[str] = []
    current: str | None = None
    for raw in _TEMPLATE_TAG_RE.sub("", text).splitlines():
        name, rest = _heading(raw), None
        inline = _INLINE_HEADING_RE.match(raw) if name is None else None
        if inline is not None and (inline.group("marker") == "【") == (inline.group("closer") == "】"):
            name, rest = _ALIASES.get(inline.group("name"), inline.group("name")), inline.group("text")
        if name is not None and name not in found:
            current = name
            found[name] = [rest] if rest is not None else []
            order.append(name)
            continue
        if current is not None:
            found[current].append(raw)
    bodies = {name: "\n".join(lines).strip() for name, lines in found.items()}
    sections = {name: bodies[name] for name in SECTIONS if name in bodies}
    extra = [name for name in order if name not in SECTIONS]
    sections.update({name: bodies[name] for name in extra})
    missing = [name for name in SECTIONS if not sections.get(name)]
    return ParsedSummary(sections=sections, missing=missing, extra=extra)


def format_sections(sections: Mapping[str, str]) -> str:
    """Write sections in the template's layout (``・ 現病歴`` then its text, blank line between sections).

    Template sections come first in template order; other keys follow.
    """
    names = [n for n in SECTIONS if n in sections] + [n for n in sections if n not in SECTIONS]
    return "\n\n".join(f"・ {name}\n{sections[name].strip()}" for name in names)
