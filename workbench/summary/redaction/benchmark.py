"""The redaction benchmark: recall per identifier category and clinical tokens damaged.

The corpus (``eval/redaction/corpus.yaml``) holds admission records and SOAP notes in which every identifier
is marked ``《CATEGORY|value》`` and clinical tokens that must survive are marked ``〔value〕``. For each
document a :class:`~workbench.summary.redaction.Redactor` is made as
:func:`workbench.summary.generate.prepare` makes one (the patient's PN and ID, a date offset, the
admission date), and

- an identifier counts as found when the redaction covers all of it (a date: when the date shifter reads it),
  and as leaked when its text is still in the redacted text (more often than it occurs outside identifiers:
  ``橋本`` stays in ``橋本病``);
- a clinical token counts as damaged when a replacement or a date shift touches any of its characters, or
  when its text is no longer in the redacted text;
- the round trip holds when restoring the redacted text gives the original back (birth dates and ages over 89
  as the redactor wrote them).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from workbench.errors import CaseFormatError
from workbench.summary.redaction.dates import age_text, date_spans
from workbench.summary.redaction.kinds import IdentifierKind
from workbench.summary.redaction.redactor import Redactor

CORPUS = Path(__file__).resolve().parents[3] / "eval" / "redaction" / "corpus.yaml"
BENCHMARK_OFFSET = 28
"""Days every date is shifted by in the benchmark (any non-zero offset exercises the shifter)."""
_MARKUP = re.compile(r"《(?P<kind>[A-Z_0-9]+)\|(?P<identifier>[^》]*)》|〔(?P<clinical>[^〕]*)〕")


@dataclass
class Document:
    """One annotated document, markup removed."""

    id: str
    kind: str
    text: str
    patient_name: str
    patient_id: str
    admission_date: dt.date
    identifiers: list[tuple[int, int, IdentifierKind]] = field(default_factory=list)
    clinical: list[tuple[int, int]] = field(default_factory=list)


def parse(raw: str) -> tuple[str, list[tuple[int, int, IdentifierKind]], list[tuple[int, int]]]:
    """Plain text, identifier spans and clinical-token spans of marked-up text."""
    out, identifiers, clinical, position = [], [], [], 0
    length = 0
    for match in _MARKUP.finditer(raw):
        before = raw[position : match.start()]
        out.append(before)
        length += len(before)
        value = match.group("identifier") if match.group("kind") else match.group("clinical")
        if match.group("kind"):
            identifiers.append((length, length + len(value), IdentifierKind[match.group("kind")]))
        else:
            clinical.append((length, length + len(value)))
        out.append(value)
        length += len(value)
        position = match.end()
    out.append(raw[position:])
    return "".join(out), identifiers, clinical


def load_corpus(path: str | Path = CORPUS) -> list[Document]:
    """The documents of a corpus file.

    Raises
    ------
    CaseFormatError
        If the file is not a corpus (a document without text, an unknown category).
    """
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    documents = []
    for index, item in enumerate(data.get("documents") or []):
        try:
            text, identifiers, clinical = parse(item["text"])
            documents.append(
                Document(
                    id=str(item["id"]),
                    kind=str(item["kind"]),
                    text=text,
                    patient_name=str(item["patient_name"]),
                    patient_id=str(item["patient_id"]),
                    admission_date=dt.date.fromisoformat(item["admission_date"]),
                    identifiers=identifiers,
                    clinical=clinical,
                )
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise CaseFormatError(f"{path}: document {index + 1}: {exc!r}") from None
    return documents


def _covered(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    covered = [False] * (end - start)
    for s, e in spans:
        for i in range(max(s, start), min(e, end)):
            covered[i - start] = True
    return all(covered)


def _touches(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(s < end and start < e for s, e in spans)


def _elsewhere(text: str, value: str, identifiers: list[tuple[int, int]]) -> int:
    """How often ``value`` occurs in ``text`` outside any identifier (``橋本`` in ``橋本病``)."""
    starts = [m.start() for m in re.finditer(re.escape(value), text)]
    return sum(1 for s in starts if not _touches(s, s + len(value), identifiers))


@dataclass
class DocumentScore:
    """What happened to one document."""

    id: str
    found: list[tuple[IdentifierKind, bool]]
    leaked: list[tuple[IdentifierKind, str]]
    damaged: list[str]
    round_trip: bool
    spurious: list[tuple[IdentifierKind, str]] = field(default_factory=list)
    """Replacements that touch no identifier (text replaced without need; clinical or not)."""


def score_document(document: Document) -> DocumentScore:
    """Redact one document and score it (see the module docstring)."""
    redactor = Redactor(
        names=[document.patient_name],
        ids=[document.patient_id],
        date_offset=BENCHMARK_OFFSET,
        reference=document.admission_date,
    )
    text = document.text
    identifier_spans = [(s, e) for s, e, _ in document.identifiers]
    spans = redactor.spans(text)
    replaced = [(s, e) for s, e, _ in spans]
    dates = [(s, e) for s, e in date_spans(text) if not _touches(s, e, replaced)]
    redacted = redactor.redact(text)
    found = [
        (kind, _covered(s, e, replaced + dates) if kind is IdentifierKind.DATE else _covered(s, e, replaced))
        for s, e, kind in document.identifiers
    ]
    leaked: list[tuple[IdentifierKind, str]] = [
        (kind, text[s:e])
        for s, e, kind in document.identifiers
        if kind is not IdentifierKind.DATE
        and redacted.count(text[s:e]) > _elsewhere(text, text[s:e], identifier_spans)
    ]
    damaged = [
        text[s:e]
        for s, e in document.clinical
        if _touches(s, e, replaced + dates) or text[s:e] not in redacted
    ]
    expected, position = [], 0
    for s, e, kind in spans:
        expected.append(text[position:s])
        if kind is IdentifierKind.AGE_OVER_89:
            expected.append("90歳以上")
        elif kind is IdentifierKind.BIRTH_DATE:
            expected.append(age_text(text[s:e], document.admission_date) or "")
        else:
            expected.append(text[s:e])
        position = e
    expected.append(text[position:])
    spurious = [(kind, text[s:e]) for s, e, kind in spans if not _touches(s, e, identifier_spans)]
    round_trip = redactor.restore(redacted) == "".join(expected)
    return DocumentScore(document.id, found, leaked, damaged, round_trip, spurious)


def score(documents: list[Document]) -> tuple[pd.DataFrame, list[DocumentScore]]:
    """Recall per category over ``documents``, with the per-document details.

    Returns
    -------
    pandas.DataFrame
        One row per category and a final ``ALL`` row: ``identifiers``, ``found``, ``recall``, ``leaked``;
        the ``ALL`` row also has ``clinical_tokens``, ``clinical_damaged`` and ``spurious`` (replacements
        that touch no identifier).
    list of DocumentScore
    """
    scores = [score_document(d) for d in documents]
    rows: list[dict[str, Any]] = []
    for kind in IdentifierKind:
        found = [ok for s in scores for k, ok in s.found if k is kind]
        if found:
            leaked = sum(1 for s in scores for k, _ in s.leaked if k is kind)
            rows.append(
                {
                    "category": kind.name,
                    "identifiers": len(found),
                    "found": sum(found),
                    "recall": sum(found) / len(found),
                    "leaked": leaked,
                }
            )
    total = [ok for s in scores for _, ok in s.found]
    rows.append(
        {
            "category": "ALL",
            "identifiers": len(total),
            "found": sum(total),
            "recall": sum(total) / max(len(total), 1),
            "leaked": sum(len(s.leaked) for s in scores),
            "clinical_tokens": sum(len(d.clinical) for d in documents),
            "clinical_damaged": sum(len(s.damaged) for s in scores),
            "spurious": sum(len(s.spurious) for s in scores),
        }
    )
    return pd.DataFrame(rows).set_index("category"), scores
