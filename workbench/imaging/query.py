"""Search filters: turn the keyword arguments of ``archive.studies(...)`` into DICOM query attributes.

Both archive implementations take the same filters and validate them here, eagerly, so that a typo or a
malformed date fails before any request is sent, with a message naming the filter and what was expected.

Filters
-------
patient_id, accession_number, study_uid, series_uid
    Exact values; a list means "any of these" (DICOM list matching).
patient_name, description
    DICOM wildcards ``*`` and ``?``; romaji, kanji or kana. Orthanc matches person names case-insensitively.
study_date
    ``"20240101-20240131"``, ``"2024-01-01"``, a ``datetime.date``, or a ``(start, end)`` tuple whose items
    are dates, date strings or ``None`` (open end).
modality
    ``"CT"`` or ``["CT", "MR"]``.
limit
    At most this many rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from workbench.errors import WorkbenchError
from workbench.imaging.uids import uid_problem


class QueryError(WorkbenchError, ValueError):
    """A search filter is unknown or malformed."""


class Level(StrEnum):
    """The four levels of the DICOM information model, spelled as Orthanc's ``/tools/find`` wants them."""

    PATIENT = "Patient"
    STUDY = "Study"
    SERIES = "Series"
    INSTANCE = "Instance"


_COMMON = {
    "patient_id": "PatientID",
    "patient_name": "PatientName",
}
_STUDY = {
    **_COMMON,
    "study_date": "StudyDate",
    "accession_number": "AccessionNumber",
    "study_uid": "StudyInstanceUID",
}

FILTERS: dict[Level, dict[str, str]] = {
    Level.PATIENT: dict(_COMMON),
    Level.STUDY: {**_STUDY, "modality": "ModalitiesInStudy", "description": "StudyDescription"},
    Level.SERIES: {
        **_STUDY,
        "modality": "Modality",
        "description": "SeriesDescription",
        "series_uid": "SeriesInstanceUID",
    },
    Level.INSTANCE: {
        **_STUDY,
        "modality": "Modality",
        "series_uid": "SeriesInstanceUID",
        "sop_instance_uid": "SOPInstanceUID",
    },
}
"""Per level: filter name -> DICOM keyword it constrains."""

_DATE_RE = re.compile(r"^\d{8}$")
_RANGE_RE = re.compile(r"^(\d{8})?-(\d{8})?$")
_MODALITY_RE = re.compile(r"^[A-Z0-9_]{1,16}$")


@dataclass(frozen=True)
class Query:
    """A validated search: DICOM keyword -> DICOM query string, and an optional row limit."""

    level: Level
    tags: dict[str, str] = field(default_factory=dict)
    limit: int | None = None

    def without(self, *keywords: str) -> Query:
        """The same query without some attributes (and without the limit)."""
        return Query(self.level, {k: v for k, v in self.tags.items() if k not in keywords}, None)


def build_query(level: Level, filters: Mapping[str, Any]) -> Query:
    """Validate ``filters`` for ``level`` and translate them to DICOM query attributes.

    Parameters
    ----------
    level
        The level searched.
    filters
        Keyword arguments as given to ``archive.studies(...)``; ``None`` values are ignored.

    Returns
    -------
    Query

    Raises
    ------
    QueryError
        An unknown filter for this level (the message lists the known ones) or a malformed value.
    """
    allowed = FILTERS[level]
    tags: dict[str, str] = {}
    limit = None
    for name, value in filters.items():
        if value is None:
            continue
        if name == "limit":
            limit = _limit(value)
            continue
        if name not in allowed:
            known = ", ".join([*sorted(allowed), "limit"])
            raise QueryError(f"unknown filter {name!r} for {level.value.lower()} search; use one of: {known}")
        keyword = allowed[name]
        if name == "study_date":
            text = date_range(value)
        elif name == "modality":
            text = _modality(value)
        elif name in UID_FILTERS:
            text = _uids(name, value)
        else:
            text = _text(name, value)
        if text:
            tags[keyword] = text
    return Query(level, tags, limit)


def date_range(value: Any) -> str:
    """Normalise a date filter to DICOM range matching (``YYYYMMDD``, ``YYYYMMDD-``, ``-YYYYMMDD`` ...).

    Parameters
    ----------
    value
        ``"20240101-20240131"``, ``"20240101"``, ``"2024-01-01"``, a ``date``/``datetime``/``Timestamp``, or a
        ``(start, end)`` tuple of those or ``None``.

    Raises
    ------
    QueryError
        If the value is not a date, or the range ends before it starts.
    """
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise QueryError(f"study_date tuple must be (start, end), got {len(value)} items: {value!r}")
        start, end = (_one_date(v) if v is not None else "" for v in value)
    elif (
        isinstance(value, str)
        and "-" in value.strip()
        and not re.match(r"^\d{4}-\d{2}-\d{2}$", value.strip())
    ):
        match = _RANGE_RE.match(value.strip())
        if not match:
            raise QueryError(f"study_date {value!r} is not a date range like '20240101-20240131'")
        start, end = (_one_date(v) if v else "" for v in match.groups())
    else:
        day = _one_date(value)
        return day
    if start and end and start > end:
        raise QueryError(f"study_date range {value!r} ends before it starts")
    if not start and not end:
        return ""
    return f"{start}-{end}"


def _one_date(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):  # pandas Timestamp is a datetime
        return value.strftime("%Y%m%d")
    if isinstance(value, str):
        text = value.strip().replace("-", "").replace("/", "")
        if _DATE_RE.match(text):
            try:
                dt.datetime.strptime(text, "%Y%m%d")
            except ValueError:
                raise QueryError(f"study_date {value!r} is not a real calendar date") from None
            return text
    raise QueryError(f"study_date {value!r} is not a date; use '20240131', '2024-01-31' or a datetime.date")


def _modality(value: Any) -> str:
    items = [value] if isinstance(value, str) else list(value)
    codes = [str(item).strip().upper() for item in items]
    for code in codes:
        if not _MODALITY_RE.match(code):
            raise QueryError(f"modality {code!r} is not a DICOM modality code like 'CT', 'MR' or 'CR'")
    return "\\".join(codes)


def _text(name: str, value: Any) -> str:
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, Sequence):
        items = [str(v) for v in value]
        if name not in ("patient_id", "accession_number", "study_uid", "series_uid", "sop_instance_uid"):
            raise QueryError(f"filter {name} takes one value (with wildcards * and ?), not a list")
    else:
        raise QueryError(f"filter {name} must be a string, got {type(value).__name__} {value!r}")
    for item in items:
        if "\\" in item or any(ord(ch) < 32 for ch in item):
            raise QueryError(f"filter {name} value {item!r} contains a backslash or a control character")
    return "\\".join(item.strip() for item in items)


UID_FILTERS = ("study_uid", "series_uid", "sop_instance_uid")
"""Filters whose values must each be one UID (a list means any of them)."""


def check_uid(value: Any, name: str = "series_uid") -> str:
    """``value`` if it is exactly one DICOM UID (surrounding blanks removed).

    Every method taking a UID argument checks it: ``''`` or ``'A\\B'`` would otherwise widen the query to
    every instance, or to two series mixed into one volume.

    Raises
    ------
    QueryError
        Naming the argument and what is wrong with it.
    """
    text = value.strip() if isinstance(value, str) else value
    problem = uid_problem(text)
    if problem is not None:
        raise QueryError(f"{name} {value!r} {problem}")
    return text


def _uids(name: str, value: Any) -> str:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not items:
        raise QueryError(f"filter {name} must be a UID or a non-empty list of UIDs, got {value!r}")
    return "\\".join(check_uid(item, name) for item in items)


def _limit(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise QueryError(f"limit must be a positive integer, got {value!r}")
    return value


def has_wildcard(text: str) -> bool:
    """Tell whether a query string uses DICOM wildcards."""
    return "*" in text or "?" in text


def matches(pattern: str, value: str | None, *, case_sensitive: bool = True) -> bool:
    """DICOM attribute matching of one value: list (``a\\b``), range for dates, wildcards, else exact.

    Used where a server cannot be trusted to match (client-side filtering of DICOMweb results).
    """
    value = value or ""
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    alternatives = pattern.split("\\")
    for alt in alternatives:
        if _RANGE_RE.match(alt) and alt != "-":
            start, end = alt.split("-")
            day = value[:8]
            if day and (not start or day >= start) and (not end or day <= end):
                return True
        elif has_wildcard(alt):
            regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in alt)
            if re.fullmatch(regex, value, flags=re.DOTALL):
                return True
        elif alt == value:
            return True
    return False
