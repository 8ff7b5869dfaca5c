"""Unsupported content: numbers, dates and drug names in a summary that the source notes do not support.

This is a hallucination proxy, not a judgement: a summary may legitimately compute a number (a length of
stay) or name a drug class, and a summary may invent a symptom without any number, date or drug. What it
catches cheaply and reproducibly is the commonest harmful kind: a dose, a lab value, a date or a drug the
notes do not back.

Both texts are brought to the canonical form of :mod:`workbench.evaluation.normalize` first (``１０ｍｇ`` =
``10mg`` = ``十mg``; ``7月25日`` = ``R5.7.25`` = ``2023-07-25`` in the case's year). Then, in the summary,

- a **date** is checked with the event it is attached to: the nearest drug, procedure, test or transfer
  (``events.txt``) in its clause, after the date if there is one, else before it. It is supported when a
  note of that day (an entry under ``<day-D>``, or a sentence anywhere in the notes naming day D, as
  ``昨日(2023-07-24)`` does when the notes are ``case.karte(source, annotate_dates=True)``) mentions the same
  event; a date before the first day of the notes (history before admission) is supported when it is named
  in the notes and the admission record mentions the event. A date with no event in its clause is supported
  when the notes name that day at all.
- **drugs** are the spellings of the lexicon ``drugs.txt`` (generic, brand and abbreviation of one drug
  are one drug: "TAZ/PIPC" in the notes supports "タゾバクタム・ピペラシリン"), the case's own
  ``facts.json`` drugs, and katakana words with a drug-name ending (-シリン, -マイシン, -サルタン ...);
  supported
  when the notes mention the drug. A katakana word that is used like a drug (a dose follows, or 内服, 投与,
  開始 ...) but is in no list (a brand name such as エンレスト) is *unverifiable* unless the notes hold the
  same word: counted, and reported apart from the unsupported ones.
- **numbers** are the remaining decimal numbers with their unit or counter and the name they are read
  with: the nearest analyte, measurement or drug before them in the clause (``CRP 12.3``, ``体温 38.5℃``,
  ``フロセミド 20mg``; spellings of one analyte are one, ``BT`` = ``体温``), or the previous number's name
  (``20mgから40mgに``). A number is supported when the notes hold the same value with a compatible name
  (the same one, or none on either side) and unit (the same one, or none on one side when the names agree):
  ``HR 82`` in the notes does not support ``82mg``, nor ``CRP 82``.

A summary without any checkable claim has ``n_claims = 0`` (its rate is undefined, NaN, and tables report
it as missing, with n); :attr:`Grounding.uncheckable_share` is the share of its sentences without any claim.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from workbench.evaluation.claims import Claim, ClaimKind, Grounding
from workbench.evaluation.lexicon import DrugLexicon, default_events
from workbench.evaluation.normalize import ISO_DATE_RE, UNITS, normalize
from workbench.evaluation.sentences import BOUNDARY_RE, clause_start, sentence_bounds, sentence_spans

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




def _number(text: str) -> str:
    try:
        return format(Decimal(text).normalize(), "f")
    except InvalidOperation:  # pragma: no cover - the regex only yields decimals
        return text


_TAG_RE = re.compile(r"</?(?:S|O|A|P|FREE)>|\[(?:医師|看護)\]", re.IGNORECASE)
_DAY_RE = re.compile(
    r"<day-(\d{4}-\d{2}-\d{2})>(.*?)(?=</day-\1>|<day-\d{4}-\d{2}-\d{2}>|\Z)(?:</day-\1>)?", re.DOTALL
)


def _canonical(text: str, anchor: dt.date | None) -> str:
    """Normalised lower-case text without note tags; whitespace kept ("Cr 3.4 K 4.3" keeps numbers apart)."""
    return normalize(_TAG_RE.sub(" ", text), anchor=anchor).lower()


_UNIT_SYNONYMS = {"度": "°c", "ヶ月": "か月", "カ月": "か月", "日間": "日", "週間": "週"}
"""Counters written two ways ("38.5度" = "38.5℃" when the names agree; "3日間" = "3日")."""
_PHRASE_RE = re.compile(r"[\d０-９ぁ-ゖ]")
_NOT_A_QUANTITY_RE = re.compile(r"型|号|群|系|類|誘導|枝|肢|相|期|度[^/]|次|世代|価")
"""What a number before which is a name, not a quantity ("2型糖尿病", "COVID-19", "第3世代")."""
_MAX_LABEL_GAP = 8
"""Characters at most between a number's name and the number ("CRPは入院時12.3": 4)."""
_ASCII_WORD_RE = re.compile(r"(?<![a-z0-9])[a-z][a-z0-9]*(?:[-/][a-z0-9]+)*(?![a-z0-9])")
_LABEL_KATAKANA_RE = re.compile(r"[ァ-ヺー]{2,}")
_UNIT_WORDS = {u.lower() for u in UNITS} | {a.lower() for aliases in UNITS.values() for a in aliases}
_DOSE_UNITS = ("mg", "g", "μg", "ml", "l", "u", "錠", "包", "本", "a", "v", "アンプル", "バイアル", "単位")
_DRUG_CONTEXT_RE = re.compile(
    r"\s*(?:[をのでにはが]\s*)?(?:(?:\d+(?:\.\d+)?\s*(?:"
    + "|".join(re.escape(u) for u in sorted(_DOSE_UNITS, key=len, reverse=True))
    + r"))|内服|投与|処方|静注|点滴|服用|服薬|錠|増量|減量|休薬|頓用|注射"
    r"|開始|導入|中止|再開|継続|追加|変更|終了)"
)
NOT_DRUGS = frozenset(
    (
        "リハビリ", "リハビリテーション", "カテーテル", "ドレーン", "ドレナージ", "モニター", "モニタ",
        "ペースメーカー", "ステント", "シャント", "バルーン", "マスク", "カニューラ", "カニュラ",
        "ネーザル", "ネブライザー", "フォロー", "コントロール", "ケア", "シャワー", "トイレ",
        "ポータブル", "ベッド", "ルート", "チューブ", "パス", "クリニカルパス", "プラン",
        "スクリーニング", "エコー", "レントゲン", "カンファレンス", "リスク", "ハイフロー",
        "インスリンスライディングスケール", "スライディングスケール", "スケール", "センサー", "ポンプ",
        "シリンジ", "ガーゼ", "テープ", "オムツ", "リハ", "ストーマ", "ケアプラン", "サマリー",
        "データ", "ゼリー", "トロミ", "ミキサー", "ペースト",
    )
)
"""Katakana words that are used like drugs ("…を開始") but are devices, care or plans."""


@dataclass(frozen=True)
class _Event:
    """Something a date can be attached to: a drug group, an event group, or a drug-like word."""

    kind: str  # "drug", "event" or "word"
    key: int | str
    spelling: str


@dataclass(frozen=True)
class _Number:
    start: int
    end: int
    value: str
    unit: str
    label: str
    name: str = ""

    @property
    def text(self) -> str:
        return f"{self.name} {self.value}{self.unit}".strip()


@dataclass
class _Found:
    """Everything checkable in one canonical text."""

    dates: list[tuple[int, int, str]] = field(default_factory=list)
    # start, end, group, spelling, known (in a list or with a drug-name ending)
    drugs: list[tuple[int, int, int | None, str, bool]] = field(default_factory=list)
    events: list[tuple[int, int, _Event]] = field(default_factory=list)
    numbers: list[_Number] = field(default_factory=list)


class NotesChecker:
    """The source notes of one case and source, indexed once, to check many summaries against them.

    Parameters
    ----------
    source
        Everything the model was given: admission record and notes (``case.ichigo`` and
        ``case.karte(source, annotate_dates=True)``): text outside ``<day-…>`` blocks is the admission record.
    anchor
        The case's admission date, to place dates written without a year.
    lexicon
        Drug spellings (default: :meth:`DrugLexicon.default`).
    extra_drugs
        More drug groups for this case, e.g. each ``facts.json`` drug's name and aliases.
    events
        Procedure, test and transfer spellings (default: :func:`default_events`).
    """

    def __init__(
        self,
        source: str,
        *,
        anchor: dt.date | None = None,
        lexicon: DrugLexicon | None = None,
        extra_drugs: Iterable[Sequence[str]] = (),
        events: DrugLexicon | None = None,
    ) -> None:
        lexicon = lexicon or DrugLexicon.default()
        # Drug names only: facts.json aliases may be phrases ("1500mg/日に増量"), which are not spellings.
        extra = [[s for s in group if not _PHRASE_RE.search(s)] for group in extra_drugs]
        extra = [group for group in extra if group]
        self.lexicon = lexicon.extended(extra) if extra else lexicon
        self.events = events or default_events()
        self.anchor = anchor
        days: dict[str, list[str]] = defaultdict(list)
        outside: list[str] = []
        position = 0
        for match in _DAY_RE.finditer(source):
            outside.append(source[position : match.start()])
            days[match.group(1)].append(match.group(2))
            position = match.end()
        outside.append(source[position:])
        self._admission = _canonical("\n".join(outside), anchor)
        self._days = {day: _canonical("\n".join(parts), anchor) for day, parts in days.items()}
        self._first_day = min(self._days) if self._days else None
        self._last_day = max(self._days) if self._days else None
        text = "\n".join([self._admission, *self._days.values()])
        self._squeezed = re.sub(r"\s+", "", text)
        found = self._find(text)
        self._groups = {group for _, _, group, _, _ in found.drugs if group is not None}
        self._numbers: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for number in found.numbers:
            self._numbers[number.value].append((number.label, number.unit))
        self._numbers_by_day: dict[str, dict[str, list[tuple[str, str]]]] = {}
        self._dose_days_cache: dict[tuple[str, str], list[str]] = {}
        # Dates the notes name: their day blocks, and every date written in them, with its sentence.
        self._named: dict[str, list[str]] = defaultdict(list)
        for part in (self._admission, *self._days.values()):
            for m in ISO_DATE_RE.finditer(part):
                low, high = sentence_bounds(part, m.start(), m.end())
                self._named[m.group(0)].append(part[low:high])

    # -- finding claims ----------------------------------------------------------------------------------
    def _find(self, text: str) -> _Found:
        found = _Found()
        taken = bytearray(len(text) + 1)

        def take(start: int, end: int) -> None:
            taken[start:end] = b"\x01" * (end - start)

        for m in ISO_DATE_RE.finditer(text):
            found.dates.append((m.start(), m.end(), m.group(0)))
            take(*m.span())
        for group, spelling, start, end in self.lexicon.find(text):
            if not any(taken[start:end]):
                found.drugs.append((start, end, group, spelling, True))
                found.events.append((start, end, _Event("drug", group, spelling)))
                take(start, end)
        for m in _KATAKANA_RUN_RE.finditer(text):
            word = m.group(0)
            if any(taken[m.start() : m.end()]) or word in NOT_DRUGS:
                continue
            if self.events.group_of(word) is not None:
                continue
            if DRUG_SUFFIX_RE.match(word):
                found.drugs.append((m.start(), m.end(), None, word, True))
            elif _DRUG_CONTEXT_RE.match(text, m.end()) and not self.events.find(word):
                found.drugs.append((m.start(), m.end(), None, word, False))
            else:
                continue
            found.events.append((m.start(), m.end(), _Event("word", word, word)))
            take(*m.span())
        for group, spelling, start, end in self.events.find(text):
            if not any(taken[start:end]):
                found.events.append((start, end, _Event("event", group, spelling)))
        found.events.sort(key=lambda item: item[0])
        labels = self._labels(text, found)
        ends = [end for end, _, _, _ in labels]
        previous: _Number | None = None
        for m in _NUMBER_RE.finditer(text):
            if taken[m.start()] or self._inside_word(text, m.start()):
                continue
            if not m["unit"] and _NOT_A_QUANTITY_RE.match(text, m.end()):
                continue
            low = clause_start(text, m.start())
            gap_from_previous = text[previous.end : m.start()] if previous is not None else None
            inherit = (
                gap_from_previous is not None
                and previous is not None
                and previous.end > low
                and len(gap_from_previous.strip()) <= 4
                and not re.search(r"[、，,（）()]", gap_from_previous)
            )
            low = max(low, previous.end) if previous is not None else low
            index = bisect.bisect_right(ends, m.start()) - 1
            label = name = ""
            if index >= 0 and labels[index][1] >= low:
                gap = text[labels[index][0] : m.start()]
                if len(gap.strip()) <= _MAX_LABEL_GAP and not re.search(r"[、，,]", gap):
                    _, _, label, name = labels[index]
            if not label and inherit and previous is not None:
                label, name = previous.label, previous.name
            number = _Number(m.start(), m.end(), _number(m["value"]), m["unit"] or "", label, name)
            found.numbers.append(number)
            previous = number
        return found

    def _inside_word(self, text: str, start: int) -> bool:
        """Whether digits at ``start`` belong to a word ("SpO2", "HbA1c", "COVID-19").

        Not when the letters before them are a known name ("Hb9.8", "K3.5").
        """
        end = start
        if end and text[end - 1] == "-":
            end -= 1
        if not (end and "a" <= text[end - 1] <= "z"):
            return False
        begin = end
        while begin and (text[begin - 1].isascii() and (text[begin - 1].isalnum() or text[begin - 1] == "-")):
            begin -= 1
        word = text[begin:end]
        return self.events.group_of(word) is None and self.lexicon.group_of(word) is None

    def _labels(self, text: str, found: _Found) -> list[tuple[int, int, str, str]]:
        """Names numbers are read with, by end: (end, start, key, spelling); events and drugs by group."""
        labels: dict[int, tuple[int, str, str]] = {}
        for m in _ASCII_WORD_RE.finditer(text):
            if m.group(0) not in _UNIT_WORDS and not (m.start() and text[m.start() - 1].isdigit()):
                labels[m.end()] = (m.start(), m.group(0), m.group(0))
        for m in _LABEL_KATAKANA_RE.finditer(text):
            labels[m.end()] = (m.start(), m.group(0), m.group(0))
        for start, end, event in found.events:
            labels[end] = (start, f"{event.kind}:{event.key}", event.spelling)
        return sorted((end, start, key, name) for end, (start, key, name) in labels.items())

    # -- support -----------------------------------------------------------------------------------------
    def _mentions(self, text: str, event: _Event) -> bool:
        if event.kind == "drug":
            return self.lexicon.mentions(text, int(event.key))
        if event.kind == "event":
            return self.events.mentions(text, int(event.key))
        return event.spelling in re.sub(r"\s+", "", text)

    def _drug_supported(self, group: int | None, spelling: str) -> bool:
        return spelling in self._squeezed or (
            group is not None and (group in self._groups or self.lexicon.mentions(self._squeezed, group))
        )

    def _number_supported(
        self, number: _Number, index: dict[str, list[tuple[str, str]]] | None = None
    ) -> bool:
        for label, unit in (self._numbers if index is None else index).get(number.value, ()):
            unit = _UNIT_SYNONYMS.get(unit, unit)
            if number.label and label:
                if _same_label(number.label, label) and (
                    _UNIT_SYNONYMS.get(number.unit, number.unit) == unit or not number.unit or not unit
                ):
                    return True
            elif number.label:  # the notes' number has no name: the unit must say it is the same thing
                if number.unit and _UNIT_SYNONYMS.get(number.unit, number.unit) == unit:
                    return True
            elif _UNIT_SYNONYMS.get(number.unit, number.unit) == unit or not number.unit:
                return True
        return False

    def _evidence(self, day: str) -> list[str]:
        """The notes that tell ``day``: its entries, sentences naming it, and (up to the admission day, when
        the notes name it) the admission record."""
        evidence = [self._days.get(day, ""), *self._named.get(day, [])]
        admitted = min(d for d in (self._first_day, _iso(self.anchor)) if d) if self._first_day else None
        if admitted is not None and day <= admitted and (day in self._named or day in self._days):
            evidence.append(self._admission)
        return [text for text in evidence if text]

    def _day_numbers(self, day: str) -> dict[str, list[tuple[str, str]]]:
        if day not in self._numbers_by_day:
            index: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for text in self._evidence(day):
                for number in self._find(text).numbers:
                    index[number.value].append((number.label, number.unit))
            self._numbers_by_day[day] = index
        return self._numbers_by_day[day]

    def _dose_days(self, event: _Event) -> list[str]:
        """Days whose notes mention ``event`` on a line with a dose or amount, in order."""
        key = (event.kind, str(event.key))
        if key not in self._dose_days_cache:
            self._dose_days_cache[key] = [
                day for day, text in sorted(self._days.items())
                if any(self._mentions(line, event) and _DOSE_RE.search(line) for line in _lines(text))
            ]
        return self._dose_days_cache[key]

    def _date_supported(
        self, day: str, event: _Event | None, action: str | None = None, values: Sequence[_Number] = ()
    ) -> bool:
        """Whether the notes of ``day`` tell ``event`` (with the same kind of ``action``, and ``values``)."""
        named = day in self._named or day in self._days
        if event is None:
            return named
        if event.kind == "event" and self._first_day is not None:
            name = self.events.groups[int(event.key)][0]
            if (name == "入院" and day in (self._first_day, _iso(self.anchor))) or (
                name == "退院" and day == self._last_day
            ):
                return True
        evidence = self._evidence(day)
        if not any(self._mentions(text, event) for text in evidence):
            return False
        if values and not all(self._number_supported(value, self._day_numbers(day)) for value in values):
            return False  # the day's notes hold the event, not this value of it
        if action is None:
            return True
        # "started / stopped on day D" needs D's notes to say so on the event's line, or D to be the first
        # (last) day the notes give the event with a dose: a drug merely continued that day does not count.
        if any(
            self._mentions(line, event) and _action_of(line) & {action}
            for text in evidence
            for line in _lines(text)
        ):
            return True
        doses = self._dose_days(event)
        if not doses:
            return True  # nothing to place it by: the mention is all there is
        if action == "start":
            return day == doses[0]
        if action == "stop":
            last = dt.date.fromisoformat(doses[-1])
            return day in (doses[-1], (last + dt.timedelta(days=1)).isoformat())
        return False

    def check(self, summary: str) -> Grounding:
        """The distinct numbers, dates and drugs of ``summary``, each marked supported or not."""
        text = _canonical(summary, self.anchor)
        found = self._find(text)
        items: list[tuple[int, Claim]] = []
        for start, end, day in found.dates:
            # A content word stands for an event only when the notes use it somewhere (a paraphrase,
            # "胃腸炎症状" for "嘔吐と下痢", cannot be placed on a day).
            attached = [
                (s_, e_, ev) for s_, e_, ev in _attached_events(text, start, end, found)
                if ev.kind != "word"
                or ev.spelling in self._squeezed
                or not _CONTENT_WORD_RE.fullmatch(ev.spelling)
            ]
            label = f"{day} {attached[0][2].spelling}" if attached else day
            window_end = _window_end(text, end, found)
            if attached:
                # What happened to the event: the first action word after it (and after the date), before
                # the next event; and, for a test or measurement, the values given for it.
                supported = any(
                    self._date_supported(
                        day,
                        event,
                        _action_after(
                            text,
                            max(event_end, end),
                            _next_event_start(found, max(event_end, end), window_end),
                        ),
                        [  # a value the notes hold on some day, said of this one (an unsupported value
                            # is a claim of its own, not counted twice)
                            n for n in found.numbers
                            if event_end <= n.start < window_end and n.label == f"{event.kind}:{event.key}"
                            and self._number_supported(n)
                        ],
                    )
                    for _, event_end, event in attached
                )
            else:
                supported = self._date_supported(day, None)
            items.append((start, Claim(ClaimKind.DATE, label, supported)))
        for start, _, group, spelling, known in found.drugs:
            supported = self._drug_supported(group, spelling)
            items.append((start, Claim(ClaimKind.DRUG, spelling, supported, not supported and not known)))
        for number in found.numbers:
            items.append((number.start, Claim(ClaimKind.NUMBER, number.text, self._number_supported(number))))
        items.sort(key=lambda item: item[0])
        result = Grounding()
        seen: set[tuple[ClaimKind, str]] = set()
        for _, claim in items:
            if (claim.kind, claim.text) not in seen:
                seen.add((claim.kind, claim.text))
                result.claims.append(claim)
        positions = sorted(start for start, _ in items)
        for low, high in sentence_spans(text):
            result.n_sentences += 1
            index = bisect.bisect_left(positions, low)
            if index == len(positions) or positions[index] >= high:
                result.n_uncheckable_sentences += 1
        return result


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _same_label(a: str, b: str) -> bool:
    """Whether two number names are the same (one group, or one word ending the other: 最高体温/体温)."""
    if a == b:
        return True
    if ":" in a or ":" in b:
        return False
    short, long = sorted((a, b), key=len)
    return len(short) >= 2 and long.endswith(short)


def _attached_events(text: str, start: int, end: int, found: _Found) -> list[tuple[int, int, _Event]]:
    """The events a date at ``text[start:end]`` is attached to, looked for in order:

    1. after the date, up to the first 、 (``1月17日にCTを施行、…``);
    2. before it, after the last 、 (``ダパグリフロジンを1月17日に開始``, ``PSLは12月8日、…``): the nearest;
    3. after it, up to the end of its clause or the next date;

    and within parentheses that hold the date, not beyond them. Without a known drug or event, the content
    words of the same spans stand for the event (``6月27日に抜鉤``).
    """
    low = clause_start(text, start)
    high_match = BOUNDARY_RE.search(text, end)
    high = high_match.start() if high_match else len(text)
    for other_start, other_end, _ in found.dates:
        if other_end <= start:
            low = max(low, other_end)
        elif other_start >= end:
            high = min(high, other_start)
            break
    opened = max(text.rfind("(", low, start), text.rfind("（", low, start))
    if opened >= 0 and max(text.rfind(")", opened, start), text.rfind("）", opened, start)) < 0:
        low = opened + 1  # the date is inside parentheses: so is its event
        closes = [i for i in (text.find(")", end, high), text.find("）", end, high)) if i >= 0]
        high = min(closes, default=high)
    commas = [i for i in (text.find("、", end, high), text.find(",", end, high)) if i >= 0]
    comma_after = min(commas, default=high)
    comma_before = max(text.rfind("、", low, start), text.rfind(",", low, start))
    spans = [(end, comma_after, False), (max(low, comma_before + 1), start, True), (comma_after, high, False)]
    for span_start, span_end, nearest_last in spans:
        events = [(s, e, event) for s, e, event in found.events if span_start <= s and e <= span_end]
        if events:
            return events[-1:] if nearest_last else events
    for span_start, span_end, nearest_last in spans:
        words = [
            (m.start(), m.end(), _Event("word", m.group(0), m.group(0)))
            for m in _CONTENT_WORD_RE.finditer(text, span_start, span_end)
            if m.group(0) not in GENERIC_WORDS
            and not any(m.group(0) in generic for generic in GENERIC_WORDS if len(generic) > 2)
        ]
        if words:
            return words[-1:] if nearest_last else words
    return []


ACTIONS = {
    "start": ("開始", "導入", "変更", "切り替", "切替", "再開", "追加", "始め", "start"),
    "stop": ("中止", "終了", "休薬", "離脱", "中断", "抜去", "off", "オフ", "stop"),
    "dose": ("増量", "減量"),
}
"""What a summary can say happened to an event on a day; the notes of that day must say the same kind."""
_ACTION_RE = re.compile("|".join(re.escape(w) for words in ACTIONS.values() for w in words))
_ACTION_CLASS = {w: kind for kind, words in ACTIONS.items() for w in words}
_DOSE_RE = re.compile(r"\d+(?:\.\d+)?\s*(?:mg|g|μg|ml|l|u|錠|包|単位|l/分|mg/日|a|v)(?![a-z])")


def _lines(text: str) -> list[str]:
    return [line for line in re.split(r"[。\n]", text) if line.strip()]


def _action_of(text: str) -> set[str]:
    return {_ACTION_CLASS[m.group(0)] for m in _ACTION_RE.finditer(text)}


def _action_after(text: str, start: int, end: int) -> str | None:
    """The kind of the first action word in ``text[start:end]`` (what the summary says happened)."""
    match = _ACTION_RE.search(text, start, end)
    return _ACTION_CLASS[match.group(0)] if match else None


def _window_end(text: str, end: int, found: _Found) -> int:
    high_match = BOUNDARY_RE.search(text, end)
    high = high_match.start() if high_match else len(text)
    later = [s for s, _, _ in found.dates if s >= end]
    return min([high, *later])


def _next_event_start(found: _Found, after: int, default: int) -> int:
    return min([s for s, _, _ in found.events if s >= after and s < default], default=default)


_CONTENT_WORD_RE = re.compile(r"[一-龥々]{2,}|[ァ-ヺー]{3,}")
GENERIC_WORDS = frozenset(
    (
        "入院", "退院", "転院", "当院", "同日", "翌日", "前日", "当日", "本日", "翌朝", "以降", "以後",
        "時点", "午前", "午後", "夕方", "夜間", "経過", "状態", "症状", "治療", "加療", "管理", "方針",
        "予定", "開始", "終了", "中止", "継続", "施行", "実施", "確認", "改善", "増悪", "軽快", "出現",
        "投与", "導入", "変更", "再開", "増量", "減量", "離脱", "評価", "観察", "指導", "検討", "判断",
        "診断", "自宅", "病院", "当科", "外来", "近医", "受診", "紹介", "搬送", "救急", "緊急", "全身",
        "良好", "不良", "低下", "上昇", "持続", "消失", "陰性", "陽性", "所見", "結果", "今回", "最終",
        "最大", "最低", "最高", "初回", "計画", "必要", "可能", "目的", "場合", "程度", "以上", "以下",
        "前後", "同様", "再度", "連日", "毎日", "予約", "調整", "追加", "切替", "切り替", "併用",
        "合併", "発症", "病日", "時間", "入院時", "退院時", "入院後", "入院中", "術後", "術前", "手術",
        "処方", "内服", "点滴", "静注", "検査", "再検", "実施後", "施行後", "後日",
    )
)
"""Words that say when or how, not what: not an event for a date (``1月17日に改善``)."""


def grounding(
    summary: str,
    source: str,
    *,
    anchor: dt.date | None = None,
    lexicon: DrugLexicon | None = None,
    extra_drugs: Iterable[Sequence[str]] = (),
) -> Grounding:
    """Check which numbers, dates and drug names of ``summary`` the notes in ``source`` support.

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
