"""The redactor: recognise, replace by placeholders (Presidio's anonymizer), shift dates, and restore."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from workbench.summary.redaction import engine
from workbench.summary.redaction.dates import DateShifter, age_text
from workbench.summary.redaction.kinds import IdentifierKind
from workbench.summary.redaction.names import KnownName, known_names
from workbench.summary.redaction.words import HONORIFICS, NOT_NAMES

logger = logging.getLogger(__name__)

_PLACEHOLDER_RE = re.compile(
    r"[\[［](?P<label>" + "|".join(re.escape(k.value) for k in IdentifierKind) + r")(?P<number>\d+)[\]］]"
)
"""A placeholder as the model may write it back (``[氏名1]``, or with full-width brackets ``［氏名1］``)."""
_MODEL_RECOGNIZER = "GinzaRecognizer"


def _known_names_pattern(names: list[KnownName]) -> str | None:
    """One regex for every known spelling: kana not inside a longer kana word, romaji as a whole word."""
    alternatives = []
    for name in names:
        text = re.escape(name.text)
        if name.ignore_case:
            alternatives.append(f"(?i:(?<![A-Za-z]){text}(?![A-Za-z]))")
        elif all("ァ" <= c <= "ヶ" or c in "ー 　・" for c in name.text):
            alternatives.append(f"(?<![ァ-ヶー]){text}(?![ァ-ヶー])")
        elif all("ぁ" <= c <= "ゖ" or c in "ー 　・" for c in name.text):
            alternatives.append(f"(?<![ぁ-ゖ]){text}(?:(?![ぁ-ゖ])|(?=さん|様|くん|ちゃん))")
        else:
            alternatives.append(text)
    return "|".join(alternatives) or None


def _is_model(result: Any) -> bool:
    """Whether a result comes from GiNZA's statistical model (rather than rules or dictionaries)."""
    return (result.recognition_metadata or {}).get("recognizer_name") == _MODEL_RECOGNIZER


def _plausible(result: Any, text: str) -> bool:
    """Whether a result of GiNZA's statistical model is kept (rules and dictionary results always are)."""
    if not _is_model(result):
        return True
    value = text[result.start : result.end]
    if (
        any(c.isdigit() or c.isspace() or c.isascii() for c in value)
        or value in NOT_NAMES
        or value in HONORIFICS
    ):
        return False
    if result.entity_type == IdentifierKind.NAME.entity:
        kana_only = all("ァ" <= c <= "ヶ" or c in "ー・" for c in value)
        return len(value) >= 2 and (not kana_only or "・" in value)
    return len(value) >= 3 and value[-1] in "都道府県市区町村郡"


class Redactor:
    """Replaces identifiers by placeholders (and dates by shifted dates) and back.

    Parameters
    ----------
    names : iterable of str
        Names always replaced, in any script (DICOM PN strings: ``YAMADA^TARO=山田^太郎=やまだ^たろう``).
    ids : iterable of str
        Values always replaced as IDs (the patient ID).
    date_offset : int, optional
        Shift every date by this many days (see :mod:`.dates`); ``None``: dates are left as written.
    reference : datetime.date, optional
        The admission date: the year of dates written without one, and the day birth dates are turned into
        ages on (default today).

    Raises
    ------
    RedactionUnavailableError
        If the recogniser is not installed (nothing can be redacted, so nothing may be sent).
    """

    def __init__(
        self,
        names: Iterable[str] = (),
        ids: Iterable[str] = (),
        *,
        date_offset: int | None = None,
        reference: dt.date | None = None,
    ) -> None:
        engine.check_installed()
        from presidio_analyzer import Pattern, PatternRecognizer

        self.reference = reference or dt.date.today()
        self.shifter = DateShifter(date_offset, self.reference) if date_offset else None
        self._forward: dict[tuple[IdentifierKind, str], str] = {}
        self._backward: dict[str, str] = {}
        self._numbers: Counter[IdentifierKind] = Counter()
        self.counts: Counter[str] = Counter()
        """Replacements made so far per category (Presidio entity names); never the values."""
        names = [str(n) for n in names]
        without_reading = any(n.count("=") < 2 for n in names)  # no phonetic group: ask Sudachi
        spellings = known_names(names, engine.reading if without_reading else None)
        ad_hoc = []
        pattern = _known_names_pattern(spellings)
        if pattern:
            ad_hoc.append(
                PatternRecognizer(
                    supported_entity=IdentifierKind.NAME.entity,
                    supported_language="ja",
                    name="KnownNameRecognizer",
                    patterns=[Pattern("known name", pattern, 1.0)],
                )
            )
        id_values = sorted({i for i in ids if i and str(i).strip()}, key=len, reverse=True)
        if id_values:
            ad_hoc.append(
                PatternRecognizer(
                    supported_entity=IdentifierKind.ID.entity,
                    supported_language="ja",
                    name="KnownIdRecognizer",
                    patterns=[Pattern("known id", "|".join(f"(?i:{re.escape(i)})" for i in id_values), 1.0)],
                )
            )
        self._ad_hoc = ad_hoc

    @property
    def recogniser(self) -> str:
        """The recogniser and its version (see :func:`.engine.recogniser_version`)."""
        return engine.recogniser_version()

    def _placeholder(self, kind: IdentifierKind, value: str) -> str:
        if (kind, value) not in self._forward:
            self._numbers[kind] += 1
            placeholder = f"[{kind.value}{self._numbers[kind]}]"
            self._forward[kind, value] = placeholder
            self._backward[placeholder] = value
        return self._forward[kind, value]

    def spans(self, text: str) -> list[tuple[int, int, IdentifierKind]]:
        """The identifier spans of ``text`` (start, end, category), in order, never overlapping.

        Where two found spans overlap, rules and dictionaries win over the statistical model, then the
        longer span, then the more certain one: a facility (``田中内科クリニック``) is one span, not a
        name and a remainder.
        """
        results = [r for r in engine.analyze(text, self._ad_hoc) if _plausible(r, text)]
        results.sort(key=lambda r: (_is_model(r), -(r.end - r.start), -r.score, r.start))
        chosen: list[tuple[int, int, IdentifierKind]] = []
        for result in results:
            if all(result.end <= s or e <= result.start for s, e, _ in chosen):
                chosen.append((result.start, result.end, IdentifierKind.from_entity(result.entity_type)))
        return sorted(chosen)

    def redact(self, text: str) -> str:
        """``text`` with every identifier replaced and (with an offset) every date shifted.

        Placeholders look like ``[氏名1]``; the same value always gets the same placeholder. A birth date
        becomes an age on the reference date (``77歳``), an age over 89 becomes ``90歳以上``. Text outside
        the replaced spans is left byte for byte (apart from shifted dates).
        """
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        spans = self.spans(text)
        results: list[RecognizerResult] = []
        position = 0
        for start, end, kind in [*spans, (len(text), len(text), None)]:
            if self.shifter is not None and start > position:
                results.append(RecognizerResult(IdentifierKind.DATE.entity, position, start, 1.0))
            if kind is not None:
                results.append(RecognizerResult(kind.entity, start, end, 1.0))
                self.counts[kind.entity] += 1
                if kind not in (IdentifierKind.BIRTH_DATE, IdentifierKind.AGE_OVER_89):
                    self._placeholder(kind, text[start:end])  # numbered in reading order
            position = end
        if not results:
            return text
        reference = self.reference

        def shifted(segment: str) -> str:
            assert self.shifter is not None
            self.counts[IdentifierKind.DATE.entity] += self.shifter.count(segment)
            return self.shifter.shift(segment)

        operators = {
            kind.entity: OperatorConfig(
                "custom", {"lambda": lambda value, k=kind: self._placeholder(k, value)}
            )
            for kind in IdentifierKind
        }
        birth = f"[{IdentifierKind.BIRTH_DATE.value}]"
        operators[IdentifierKind.BIRTH_DATE.entity] = OperatorConfig(
            "custom", {"lambda": lambda value: age_text(value, reference) or birth}
        )
        operators[IdentifierKind.AGE_OVER_89.entity] = OperatorConfig(
            "custom", {"lambda": lambda _value: "90歳以上"}
        )
        operators[IdentifierKind.DATE.entity] = OperatorConfig("custom", {"lambda": shifted})
        anonymized = _anonymizer().anonymize(
            text=text, analyzer_results=results, operators=operators, merge_entities_with_spaces=False
        )
        if not self.counts[IdentifierKind.DATE.entity]:
            del self.counts[IdentifierKind.DATE.entity]
        return anonymized.text

    def restore(self, text: str) -> str:
        """What the model wrote, with the original values back in place of the placeholders (also written
        with full-width brackets) and every date moved back; nothing else changes."""
        pieces, position = [], 0
        for match in _PLACEHOLDER_RE.finditer(text):
            gap = text[position : match.start()]
            pieces += [self.shifter.unshift(gap) if self.shifter else gap]
            placeholder = f"[{match.group('label')}{int(match.group('number'))}]"
            pieces.append(self._backward.get(placeholder, match.group(0)))
            position = match.end()
        tail = text[position:]
        pieces.append(self.shifter.unshift(tail) if self.shifter else tail)
        return "".join(pieces)

    def record(self) -> dict[str, Any]:
        """What a generation records about its redaction: the recogniser, whether dates were shifted and
        how many replacements of each category were made. Never a value, never the offset."""
        return {
            "recogniser": self.recogniser,
            "date_shift": self.shifter is not None,
            "counts": {kind: int(n) for kind, n in sorted(self.counts.items()) if n},
        }

    @property
    def replacements(self) -> dict[str, str]:
        """Placeholder -> original value, for what has been redacted so far."""
        return dict(self._backward)


@functools.cache
def _anonymizer() -> Any:
    """Presidio's ``AnonymizerEngine`` (one per process)."""
    from presidio_anonymizer import AnonymizerEngine

    return AnonymizerEngine()
