"""Entry IDs: every part of the notes a summary may rest on gets a short, stable, readable ID.

The format (one for the whole workbench)
----------------------------------------
``MMDD-W-Pn``, e.g. ``0725-医-O2``:

- ``MMDD``: the entry's day (the ``<day-...>`` tag's date; the admission date for the admission record).
  A case whose dates repeat a month and day in another year (a stay of more than a year) uses
  ``YYYYMMDD`` for all of its IDs instead.
- ``W``: who wrote it, ``医`` (doctor, and the admission record) or ``看`` (nursing).
- ``P``: the part, ``S``, ``O``, ``A``, ``P`` (SOAP), ``F`` (``<FREE>``), or ``H`` for a headed part of the
  admission record (入院カルテ1号紙: 主訴, 現病歴, 既往歴 ...).
- ``n``: 1, 2, ... counting the entries of that day, writer and part in file order (``H`` parts count the
  record's headings in order).

The IDs depend only on the case (never on the source chosen or the order of rendering), so the same case
rendered twice, or once from ``doctor`` and once from ``both``, gives every entry the same ID. In the text a
model reads, an ID is written in square brackets in front of its entry: ``<O>[0725-医-O1]BT 38.6℃ ...</O>``
and ``[0725-医-H2]【現病歴】...``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from workbench.summary.cases import Author, Case, Entry, Source, Tag

logger = logging.getLogger(__name__)

ID_PATTERN = r"(?:\d{8}|\d{4})-[医看]-[SOAPFH][1-9]\d*"
"""An entry ID (see the module docstring)."""
ID_RE = re.compile(ID_PATTERN)
ADMISSION_PART = "H"
"""The part letter of the admission record's headed parts."""
_TAG_LETTER = {Tag.S: "S", Tag.O: "O", Tag.A: "A", Tag.P: "P", Tag.FREE: "F"}
_AUTHOR_MARK = {Author.DOCTOR: "医", Author.NURSING: "看"}
PART_LABELS = {
    "S": "S (主観)",
    "O": "O (客観)",
    "A": "A (評価)",
    "P": "P (計画)",
    "F": "FREE (自由記載)",
    "H": "入院時記録",
}
"""How the assistant names a part."""

_ICHIGO_HEADING_RES = (
    re.compile(r"^\s*[【\[]([^】\]]{1,12})[】\]]\s*[:：]?\s*(.*)$"),  # 【現病歴】 text
    re.compile(r"^\s*[■◆●#]+\s*([^\s:：]{1,12})\s*[:：]?\s*(.*)$"),  # ■現病歴 / ## 現病歴: text
    re.compile(r"^\s*([^\s:：、。]{1,12})\s*[:：]\s*(.*)$"),  # 現病歴：text (known headings only)
)
ICHIGO_HEADINGS = (
    "主訴",
    "現病歴",
    "既往歴",
    "併存症",
    "内服薬",
    "アレルギー",
    "生活歴",
    "家族歴",
    "所見",
    "身体所見",
    "入院時現症",
    "検査",
    "入院時検査",
)
"""Headings recognised without a bracket or mark (``現病歴：...``)."""


def ichigo_heading(line: str) -> tuple[str, str] | None:
    """``(heading, rest of the line)`` if ``line`` opens a part of an admission record, else None.

    Forms: ``【現病歴】 text``, ``■既往歴``, ``## 検査``, and ``現病歴：text`` for the :data:`ICHIGO_HEADINGS`
    (so ``胸部CT：...`` inside a part stays content).
    """
    match = next((m for m in (r.match(line) for r in _ICHIGO_HEADING_RES) if m), None)
    if match is None:
        return None
    if match.re is _ICHIGO_HEADING_RES[2] and match.group(1) not in ICHIGO_HEADINGS:
        return None
    return match.group(1), match.group(2).strip()


def ichigo_sections(text: str) -> dict[str, str]:
    """Split an admission record into its headed parts (``【現病歴】``, ``■既往歴``, ``主訴：...``)."""
    parts: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        heading = ichigo_heading(line)
        if heading is not None:
            current = heading[0]
            parts.setdefault(current, [])
            if heading[1]:
                parts[current].append(heading[1])
        elif current is not None and line.strip():
            parts[current].append(line.strip())
    return {name: "\n".join(lines) for name, lines in parts.items()}


@dataclass(frozen=True)
class CitableEntry:
    """One thing a summary sentence can cite.

    Attributes
    ----------
    id : str
        E.g. ``0725-医-O2``.
    date : datetime.date
    author : Author
    part : str
        ``S``, ``O``, ``A``, ``P``, ``F`` or ``H``.
    text : str
        The entry's text (for ``H``: the part's text without its heading).
    heading : str
        For ``H``: the admission record's heading (``現病歴``); empty otherwise.
    entry : Entry or None
        The note entry (None for the admission record).
    """

    id: str
    date: dt.date
    author: Author
    part: str
    text: str
    heading: str = ""
    entry: Entry | None = None

    @property
    def part_label(self) -> str:
        """The part as the assistant shows it (``O (客観)``, ``入院時記録 現病歴``)."""
        label = PART_LABELS[self.part]
        return f"{label} {self.heading}" if self.heading else label

    def to_dict(self) -> dict[str, str]:
        """``id``, ``date`` (ISO), ``author`` (医師/看護), ``part``, ``heading``, ``text``."""
        return {
            "id": self.id,
            "date": self.date.isoformat(),
            "author": self.author.label,
            "part": self.part_label,
            "heading": self.heading,
            "text": self.text,
        }


def _day_format(case: Case) -> str:
    dates = {case.admission_date, *(e.date for e in case.doctor), *(e.date for e in case.nursing)}
    month_days = {(d.month, d.day) for d in dates}
    return "%m%d" if len(month_days) == len(dates) else "%Y%m%d"


class EntryIndex:
    """The citable entries of one case, by ID and by note entry.

    Parameters
    ----------
    case : Case
    """

    def __init__(self, case: Case) -> None:
        self.case = case
        fmt = _day_format(case)
        self._by_id: dict[str, CitableEntry] = {}
        self._ids: dict[int, str] = {}  # id(Entry) -> entry ID
        self.headings: dict[str, str] = {}  # admission-record heading -> ID
        day = case.admission_date.strftime(fmt)
        parts = ichigo_sections(case.ichigo)
        for number, (heading, text) in enumerate(parts.items(), start=1):
            entry_id = f"{day}-{_AUTHOR_MARK[Author.DOCTOR]}-{ADMISSION_PART}{number}"
            self.headings[heading] = entry_id
            self._by_id[entry_id] = CitableEntry(
                entry_id, case.admission_date, Author.DOCTOR, ADMISSION_PART, text, heading
            )
        for notes in (case.doctor, case.nursing):
            counts: dict[tuple[dt.date, Tag], int] = {}
            for entry in notes:
                number = counts[entry.date, entry.tag] = counts.get((entry.date, entry.tag), 0) + 1
                entry_id = (
                    f"{entry.date.strftime(fmt)}-{_AUTHOR_MARK[entry.author]}-{_TAG_LETTER[entry.tag]}{number}"
                )
                self._ids[id(entry)] = entry_id
                self._by_id[entry_id] = CitableEntry(
                    entry_id, entry.date, entry.author, _TAG_LETTER[entry.tag], entry.text, entry=entry
                )

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def __getitem__(self, entry_id: str) -> CitableEntry:
        return self._by_id[entry_id]

    def ids(self) -> list[str]:
        """Every ID: the admission record's parts first, then doctor and nursing entries in file order."""
        return list(self._by_id)

    def shifted_ids(self, days: int) -> dict[str, str]:
        """Every ID -> the same ID with its day moved by ``days`` (for redaction that shifts dates).

        The day keeps its form (``MMDD`` or ``YYYYMMDD``) unless moving it makes two days share an ``MMDD``;
        then every moved ID carries the year. The map is one to one, so it can be read backwards.
        """
        delta = dt.timedelta(days=days)
        for fmt in (_day_format(self.case), "%Y%m%d"):
            moved = {
                entry_id: f"{(entry.date + delta).strftime(fmt)}-{entry_id.split('-', 1)[1]}"
                for entry_id, entry in self._by_id.items()
            }
            if len(set(moved.values())) == len(moved):
                break
        return moved

    def id_of(self, entry: Entry) -> str:
        """The ID of one of the case's note entries.

        Raises
        ------
        KeyError
            If ``entry`` is not one of this case's entries (an equal copy is not).
        """
        return self._ids[id(entry)]

    def karte(self, source: Source | str) -> str:
        """:meth:`Case.karte` with every entry's ID in front of its text (``$(karte)`` of citing prompts)."""
        source = Source.parse(source)
        blocks: list[str] = []
        current: dt.date | None = None
        for entry in self.case.entries(source):
            if entry.date != current:
                if current is not None:
                    blocks.append(f"</day-{current.isoformat()}>")
                current = entry.date
                blocks.append(f"<day-{current.isoformat()}>")
            mark = f"[{entry.author.label}] " if source is Source.BOTH else ""
            tag = entry.tag.value
            blocks.append(f"<{tag}>[{self.id_of(entry)}]{mark}{entry.text}</{tag}>")
        if current is not None:
            blocks.append(f"</day-{current.isoformat()}>")
        return "\n".join(blocks)

    def ichigo(self) -> str:
        """The admission record with each headed part's ID in front of its heading (``$(ichigo)``)."""
        lines = []
        for line in self.case.ichigo.strip().splitlines():
            heading = ichigo_heading(line)
            lines.append(f"[{self.headings[heading[0]]}]{line.strip()}" if heading else line)
        return "\n".join(lines)
