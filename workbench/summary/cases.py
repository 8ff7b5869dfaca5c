"""Inpatient cases: the admission record, daily doctor and nursing notes, and the physician's summary.

A case folder (``eval/cases/<case_id>/``) holds ``meta.json``, ``ichigo.txt`` (入院カルテ1号紙),
``doctor.txt`` and ``nursing.txt`` (daily notes in the seed's tagged format), ``summary.txt`` (the
physician-written discharge summary) and ``facts.json`` (the facts a good summary must carry). Hospital data
warehouses export the same notes as a long-format CSV (``patient_id, date, record_type, tag, text``):
:func:`load_csv` reads that.

The notes format
----------------
::

    <day-2023-07-25>
    <S>息苦しい</S>
    <O>SpO2 93% 経鼻1L</O>
    <A>右肺炎 <P>TAZ/PIPC継続
    </day-2023-07-25>

Real exports are messy, so parsing is lenient where the meaning is clear: an entry whose closing tag is
missing runs to the next tag; a day left open is closed by the next day; text inside a day but outside any
SOAP tag is kept as a ``FREE`` entry; plans copied from day to day are kept as written. What cannot be meant
is rejected with ``file:line``: a malformed date tag, a day closed that is not open, text outside any day.
"昨日" (yesterday) is kept verbatim; it means the day before the tag's date, which the prompts explain and
:func:`resolve_relative_dates` can make explicit.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import io
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from workbench.errors import CaseFormatError, NotFoundError
from workbench.files import read_utf8

logger = logging.getLogger(__name__)


class Source(StrEnum):
    """Which notes a summary is generated from (the seed's 医師記録 / 看護記録 / 医師+看護記録)."""

    DOCTOR = "doctor"
    NURSING = "nursing"
    BOTH = "both"

    @property
    def label(self) -> str:
        """The Japanese label shown in the assistant's screens (``SrcData``)."""
        return {"doctor": "医師記録", "nursing": "看護記録", "both": "医師+看護記録"}[self.value]

    @classmethod
    def parse(cls, value: str | Source) -> Source:
        """Return the member named by ``value`` (``"doctor"``, ``"nursing"``, ``"both"`` or a label).

        Raises
        ------
        CaseFormatError
            If ``value`` names no source.
        """
        if isinstance(value, Source):
            return value
        for member in cls:
            if value in (member.value, member.label):
                return member
        raise CaseFormatError(f"unknown source {value!r}; expected one of doctor, nursing, both")


class Tag(StrEnum):
    """The kind of a note entry: SOAP (Subjective, Objective, Assessment, Plan) or free text."""

    S = "S"
    O = "O"  # noqa: E741 - the SOAP letter
    A = "A"
    P = "P"
    FREE = "FREE"


class Author(StrEnum):
    """Who wrote a note entry."""

    DOCTOR = "doctor"
    NURSING = "nursing"

    @property
    def label(self) -> str:
        """The mark used when doctor and nursing notes are merged: 医師 or 看護."""
        return "医師" if self is Author.DOCTOR else "看護"


@dataclass(frozen=True)
class Entry:
    """One note entry.

    Attributes
    ----------
    date : datetime.date
        The date of the day tag the entry sits in.
    tag : Tag
        S, O, A, P or FREE.
    text : str
        The entry's text, stripped, verbatim otherwise (昨日 is not rewritten).
    author : Author
        ``doctor`` or ``nursing``.
    line : int
        1-based line of the entry's start in its file (0 when unknown).
    """

    date: dt.date
    tag: Tag
    text: str
    author: Author
    line: int = 0


@dataclass
class Case:
    """One inpatient stay.

    Attributes
    ----------
    case_id, patient_id : str
        The case's name and the patient's pseudonymous ID.
    admission_date, discharge_date : datetime.date
        The stay.
    department : str
        E.g. ``respiratory``.
    ichigo : str
        The admission record (入院カルテ1号紙).
    doctor, nursing : list of Entry
        Daily notes, in file order.
    reference : str or None
        The physician-written summary (``summary.txt``).
    facts : dict or None
        Key facts for fact-level scoring (``facts.json``).
    path : pathlib.Path or None
        The case folder (or CSV file) it was read from.
    diagnosis : str
        Main diagnosis from ``meta.json``, when given.
    patient_name : str
        Optional ``meta.json`` ``patient_name`` (a DICOM PN string); used only to redact it.
    """

    case_id: str
    patient_id: str
    admission_date: dt.date
    discharge_date: dt.date
    department: str
    ichigo: str
    doctor: list[Entry] = field(default_factory=list)
    nursing: list[Entry] = field(default_factory=list)
    reference: str | None = None
    facts: dict[str, Any] | None = None
    path: Path | None = None
    diagnosis: str = ""
    patient_name: str = ""

    def entries(self, source: Source | str) -> list[Entry]:
        """The entries of ``source``, merged by date (doctor before nursing within a day, file order kept)."""
        source = Source.parse(source)
        chosen: list[Entry] = []
        if source in (Source.DOCTOR, Source.BOTH):
            chosen += self.doctor
        if source in (Source.NURSING, Source.BOTH):
            chosen += self.nursing
        # sorted() is stable: within a date, doctor entries (added first) stay before nursing ones.
        return sorted(chosen, key=lambda e: e.date)

    def karte(self, source: Source | str, *, annotate_dates: bool = False) -> str:
        """Render the notes in the seed's tagged format, the text of ``$(karte)``.

        Parameters
        ----------
        source : Source or str
            ``doctor``, ``nursing`` or ``both``. With ``both`` each entry starts with ``[医師]`` or
            ``[看護]``.
        annotate_dates : bool
            Append the absolute date after relative ones (``昨日(2023-07-24)``).

        Returns
        -------
        str
            ``<day-YYYY-MM-DD>`` blocks, one per date, holding ``<S>...</S>`` etc.
        """
        source = Source.parse(source)
        blocks: list[str] = []
        current: dt.date | None = None
        for entry in self.entries(source):
            if entry.date != current:
                if current is not None:
                    blocks.append(f"</day-{current.isoformat()}>")
                current = entry.date
                blocks.append(f"<day-{current.isoformat()}>")
            text = resolve_relative_dates(entry.text, entry.date) if annotate_dates else entry.text
            mark = f"[{entry.author.label}] " if source is Source.BOTH else ""
            blocks.append(f"<{entry.tag.value}>{mark}{text}</{entry.tag.value}>")
        if current is not None:
            blocks.append(f"</day-{current.isoformat()}>")
        return "\n".join(blocks)

    def source_text(self, source: Source | str) -> str:
        """All case text the model sees for ``source``: the admission record and the rendered notes."""
        return f"{self.ichigo.strip()}\n\n{self.karte(source)}"


# -- relative dates ------------------------------------------------------------------------------------------
_RELATIVE_DAYS = {
    "一昨日": -2,
    "おととい": -2,
    "昨日": -1,
    "昨夜": -1,
    "前日": -1,
    "本日": 0,
    "今朝": 0,
    "同日": 0,
    "当日": 0,
    "明日": 1,
    "翌日": 1,
    "翌朝": 1,
}
_ANCHORED = ("前日", "同日", "当日", "翌日", "翌朝")
"""Words that count from another day when they follow a noun ("手術翌日", "入院当日"): only read alone."""
_RELATIVE_RE = re.compile(
    "|".join(
        (r"(?<![\u3400-\u9fff々ァ-ヺー])" + re.escape(word)) if word in _ANCHORED else re.escape(word)
        for word in sorted(_RELATIVE_DAYS, key=len, reverse=True)
    )
)


def resolve_relative_dates(text: str, date: dt.date, *, replace: bool = False) -> str:
    """Make relative day words absolute, counted from ``date`` (the entry's day tag).

    ``resolve_relative_dates("昨日HOT開始", date(2022, 10, 10))`` gives ``"昨日(2022-10-09)HOT開始"``;
    with ``replace=True`` it gives ``"10月9日HOT開始"``. Read words: 一昨日/おととい, 昨日/昨夜/前日,
    本日/今朝/同日/当日, 明日/翌日/翌朝. 前日, 同日, 当日, 翌日 and 翌朝 right after a kanji or katakana
    word ("術翌日", "入院当日") count from that event, not from the entry's day, and are left as written.
    """

    def absolute(match: re.Match[str]) -> str:
        day = date + dt.timedelta(days=_RELATIVE_DAYS[match.group(0)])
        return f"{day.month}月{day.day}日" if replace else f"{match.group(0)}({day.isoformat()})"

    return _RELATIVE_RE.sub(absolute, text)


# -- notes parser --------------------------------------------------------------------------------------------
_TOKEN_RE = re.compile(r"<(/?)(day[^<>]*|S|O|A|P|FREE)>", re.IGNORECASE)
_DAY_RE = re.compile(r"day-(\d{4})-(\d{2})-(\d{2})")


def parse_notes(text: str, author: Author | str, *, filename: str = "<notes>") -> list[Entry]:
    """Parse daily notes in the tagged format.

    Parameters
    ----------
    text : str
        The notes.
    author : Author or str
        ``doctor`` or ``nursing``.
    filename : str
        Used in error messages (``file:line``).

    Returns
    -------
    list of Entry
        In file order; empty entries are dropped.

    Raises
    ------
    CaseFormatError
        For a malformed date tag, a day closed that is not open, or text outside any day.
    """
    author = Author(author)
    entries: list[Entry] = []
    day: dt.date | None = None
    tag: Tag | None = None  # the open entry's tag; None between entries
    tag_line = 0  # line of the open entry's tag
    position = 0  # where the text not yet consumed starts

    newlines = [match.start() for match in re.finditer("\n", text)]  # once: line numbers by bisection

    def line_of(offset: int) -> int:
        return bisect.bisect_left(newlines, offset) + 1

    def emit(end: int) -> None:
        """Close the open entry (or the untagged text before ``end``) as an entry."""
        chunk = text[position:end]
        if not chunk.strip():
            return
        line = tag_line if tag is not None else line_of(position + len(chunk) - len(chunk.lstrip()))
        if day is None:
            raise CaseFormatError(
                f"{filename}:{line}: text outside any <day-YYYY-MM-DD> tag: {chunk.strip()[:40]!r}"
            )
        entries.append(Entry(day, tag or Tag.FREE, chunk.strip(), author, line))

    for match in _TOKEN_RE.finditer(text):
        emit(match.start())  # an entry whose closing tag is missing runs up to the next tag
        closing, name = match.group(1) == "/", match.group(2)
        line = line_of(match.start())
        previous_tag, tag, position = tag, None, match.end()
        if not name.lower().startswith("day"):
            if not closing:
                tag, tag_line = Tag(name.upper()), line
            elif previous_tag is not None and previous_tag.value != name.upper():
                logger.debug("%s:%d: </%s> closes an open <%s>", filename, line, name, previous_tag.value)
            continue
        parsed = _DAY_RE.fullmatch(name)
        try:
            date = dt.date(*(int(g) for g in parsed.groups())) if parsed else None
        except ValueError:
            date = None
        if date is None:
            raise CaseFormatError(
                f"{filename}:{line}: malformed date tag {match.group(0)!r}; "
                "expected <day-YYYY-MM-DD> with a real date"
            )
        if closing and day != date:
            opened = f"the open day is {day.isoformat()}" if day else "no day is open"
            raise CaseFormatError(
                f"{filename}:{line}: {match.group(0)} closes a day that was never opened ({opened})"
            )
        if not closing and day is not None:
            logger.debug("%s:%d: day %s left open; closed by the next day tag", filename, line, day)
        day = None if closing else date
    emit(len(text))
    return entries


# -- case folders --------------------------------------------------------------------------------------------
_META_REQUIRED = ("patient_id", "admission_date", "discharge_date", "department")


def _read_text(path: Path) -> str:
    return read_utf8(path, CaseFormatError)


def _parse_date(value: Any, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise CaseFormatError(f"{where}: {value!r} is not a date; expected YYYY-MM-DD") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise CaseFormatError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None


def load_case(path: str | Path) -> Case:
    """Read one case folder.

    Parameters
    ----------
    path : str or pathlib.Path
        A folder holding ``meta.json``, ``ichigo.txt`` and at least one of ``doctor.txt``/``nursing.txt``;
        ``summary.txt`` and ``facts.json`` are optional.

    Returns
    -------
    Case

    Raises
    ------
    NotFoundError
        If the folder or a required file does not exist.
    CaseFormatError
        If a file is malformed (the message carries ``file:line``).
    """
    folder = Path(path)
    if not folder.is_dir():
        raise NotFoundError(f"case folder {folder} does not exist")
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise NotFoundError(f"{folder} is not a case folder: meta.json is missing")
    meta = _read_json(meta_path)
    if not isinstance(meta, dict):
        raise CaseFormatError(f"{meta_path}: expected a JSON object")
    missing = [key for key in _META_REQUIRED if not meta.get(key)]
    if missing:
        raise CaseFormatError(f"{meta_path}: missing {', '.join(missing)}")
    admission = _parse_date(meta["admission_date"], f"{meta_path}: admission_date")
    discharge = _parse_date(meta["discharge_date"], f"{meta_path}: discharge_date")
    if discharge < admission:
        raise CaseFormatError(f"{meta_path}: discharge_date {discharge} is before admission_date {admission}")
    ichigo_path = folder / "ichigo.txt"
    if not ichigo_path.is_file():
        raise NotFoundError(f"{folder}: ichigo.txt (the admission record) is missing")
    notes: dict[Author, list[Entry]] = {}
    for author in Author:
        notes_path = folder / f"{author.value}.txt"
        notes[author] = (
            parse_notes(_read_text(notes_path), author, filename=str(notes_path))
            if notes_path.is_file()
            else []
        )
    if not (folder / "doctor.txt").is_file() and not (folder / "nursing.txt").is_file():
        raise NotFoundError(f"{folder}: neither doctor.txt nor nursing.txt exists")
    summary_path, facts_path = folder / "summary.txt", folder / "facts.json"
    facts = _read_json(facts_path) if facts_path.is_file() else None
    if facts is not None and not isinstance(facts, dict):
        raise CaseFormatError(f"{facts_path}: expected a JSON object")
    return Case(
        case_id=str(meta.get("case_id") or folder.name),
        patient_id=str(meta["patient_id"]),
        admission_date=admission,
        discharge_date=discharge,
        department=str(meta["department"]),
        ichigo=_read_text(ichigo_path),
        doctor=notes[Author.DOCTOR],
        nursing=notes[Author.NURSING],
        reference=_read_text(summary_path) if summary_path.is_file() else None,
        facts=facts,
        path=folder.resolve(),
        diagnosis=str(meta.get("diagnosis") or ""),
        patient_name=str(meta.get("patient_name") or ""),
    )


def load_cases(folder_or_list: str | Path | Iterable[str | Path]) -> list[Case]:
    """Read several cases.

    Parameters
    ----------
    folder_or_list : str, pathlib.Path or iterable of them
        A folder of case folders (read in name order), a single case folder, or a list of case folders.

    Returns
    -------
    list of Case

    Raises
    ------
    NotFoundError
        If a folder does not exist or holds no case.
    CaseFormatError
        If a case is malformed.
    """
    if isinstance(folder_or_list, str | Path):
        folder = Path(folder_or_list)
        if not folder.is_dir():
            raise NotFoundError(f"case folder {folder} does not exist")
        if (folder / "meta.json").is_file():
            return [load_case(folder)]
        paths = sorted(p for p in folder.iterdir() if (p / "meta.json").is_file())
        if not paths:
            raise NotFoundError(f"{folder} holds no case folders (folders with a meta.json)")
    else:
        paths = [Path(p) for p in folder_or_list]
    return [load_case(p) for p in paths]


# -- long-format CSV -----------------------------------------------------------------------------------------
_CSV_COLUMNS = ("patient_id", "date", "record_type", "tag", "text")
_RECORD_TYPES = {
    "doctor": "doctor",
    "医師": "doctor",
    "医師記録": "doctor",
    "nursing": "nursing",
    "看護": "nursing",
    "看護記録": "nursing",
    "ichigo": "ichigo",
    "入院カルテ1号紙": "ichigo",
    "admission": "ichigo",
}


def load_csv(path: str | Path, *, department: str = "unknown") -> list[Case]:
    """Read a long-format export: one row per note entry.

    Columns: ``patient_id, date, record_type, tag, text``.

    ``record_type`` is ``doctor``/``nursing`` (or 医師/看護), or ``ichigo`` for the admission record;
    ``tag`` is S, O, A, P or FREE (empty means FREE) for notes, and the heading (主訴, 現病歴 ...) for
    ``ichigo`` rows. Optional columns ``case_id``, ``admission_date``,
    ``discharge_date`` and ``department`` are used when present; otherwise one case per patient spans its
    first to last date and is named after the patient ID.

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file (UTF-8, with a header).
    department : str
        Department when the file has no ``department`` column.

    Returns
    -------
    list of Case
        In order of first appearance.

    Raises
    ------
    NotFoundError
        If the file does not exist.
    CaseFormatError
        For a missing column or a bad row (``file:line``).
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"CSV export {path} does not exist")
    grouped: dict[str, dict[str, Any]] = {}
    with io.StringIO(read_utf8(path, CaseFormatError), newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _CSV_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise CaseFormatError(
                f"{path}:1: missing column(s) {', '.join(missing)}; expected {', '.join(_CSV_COLUMNS)}"
            )
        row_line = reader.line_num + 1
        for row in reader:
            line, row_line = row_line, reader.line_num + 1
            where = f"{path}:{line}"
            if None in row or any(row[c] is None for c in _CSV_COLUMNS):  # too many or too few fields
                extra = row.get(None) or []
                fields = sum(v is not None for k, v in row.items() if k is not None) + len(extra)
                raise CaseFormatError(
                    f"{where}: {fields} field(s) where the header has {len(reader.fieldnames or ())}; "
                    "fix the row (quote text that holds commas or line breaks)"
                )
            key = (row.get("case_id") or row["patient_id"] or "").strip()
            if not key:
                raise CaseFormatError(f"{where}: empty patient_id")
            date = _parse_date(row["date"][:10], f"{where}: date")
            kind = _RECORD_TYPES.get((row["record_type"] or "").strip())
            if kind is None:
                raise CaseFormatError(
                    f"{where}: unknown record_type {row['record_type']!r}; expected doctor, nursing or ichigo"
                )
            case = grouped.setdefault(key, {"rows": [], "ichigo": [], "meta": row})
            case.setdefault("dates", []).append(date)
            text = (row["text"] or "").strip()
            if kind == "ichigo":
                # for the admission record the tag column holds the heading (主訴, 現病歴 ...)
                heading = (row["tag"] or "").strip()
                case["ichigo"].append(f"【{heading}】\n{text}" if heading else text)
                continue
            raw_tag = (row["tag"] or "FREE").strip().upper()
            if raw_tag not in Tag.__members__:
                raise CaseFormatError(f"{where}: unknown tag {row['tag']!r}; expected S, O, A, P or FREE")
            if text:
                case["rows"].append(Entry(date, Tag[raw_tag], text, Author(kind), line))
    cases = []
    for key, data in grouped.items():
        meta, entries = data["meta"], data["rows"]
        admission = (
            _parse_date(meta["admission_date"], f"{path}: {key}: admission_date")
            if meta.get("admission_date")
            else min(data["dates"])
        )
        discharge = (
            _parse_date(meta["discharge_date"], f"{path}: {key}: discharge_date")
            if meta.get("discharge_date")
            else max(data["dates"])
        )
        cases.append(
            Case(
                case_id=key,
                patient_id=meta["patient_id"].strip(),
                admission_date=admission,
                discharge_date=discharge,
                department=(meta.get("department") or department).strip(),
                ichigo="\n".join(data["ichigo"]),
                doctor=[e for e in entries if e.author is Author.DOCTOR],
                nursing=[e for e in entries if e.author is Author.NURSING],
                path=path.resolve(),
            )
        )
    return cases


def find_case(cases: Sequence[Case], key: str) -> Case:
    """Find a case by case ID or patient ID (the assistant's search box).

    Raises
    ------
    NotFoundError
        If no case matches, naming a few that exist.
    """
    key = key.strip()
    for case in cases:
        if key in (case.case_id, case.patient_id) or case.patient_id.upper() == key.upper():
            return case
    known = ", ".join(c.case_id for c in cases[:5])
    raise NotFoundError(f"no case with case or patient ID {key!r} (known cases include: {known})")
