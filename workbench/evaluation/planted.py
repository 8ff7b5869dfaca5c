"""A synthetic planted-error set for the grounding check: how often it catches errors, and cries wolf.

:func:`generate` builds the set from the case corpus (``eval/cases/*``), deterministically (a seeded
``random.Random``; the same corpus gives the same file). Each item is one summary sentence and the case whose
notes it is checked against; it is an **error** (the check should flag it) or a **variant** (it should not):

Errors
    ``value_swap``: a number's value replaced by the value of another analyte in the same notes (or two values
    of a sentence swapped); ``date_shift``: a date moved by one day, to a day whose notes do not mention its
    event; ``drug_absent``: a drug replaced by one the notes never mention; ``wrong_day``: a date's event
    replaced by an event the notes hold on another day only.
Variants
    ``plain``: sentences written from the notes themselves (a day's drug, procedure or test, a value with its
    analyte and unit); ``fullwidth``: digits and letters in full width; ``date_style``: ``7月25日`` written
    as 令和, 西暦, ``2023/7/25`` or ``7/25``; ``unit_spelling``: ``mg`` as ミリグラム, ``mL`` as ミリリットル;
    ``next_day``: notes saying 翌日/翌朝 with the summary giving the resolved date.

Physician sentences become error or variant bases only when the check finds nothing to flag in them (so a
flag on a mutation is caused by the mutation); ``plain`` sentences are true by construction and are kept
whatever the check says. Whether an error really is one is decided from the raw notes, not by the check: a
shifted date is only planted when no spelling of its event occurs in the notes of the new day.

``python eval/planted/make_planted.py`` writes ``eval/planted/planted.jsonl`` and prints what it measures;
:func:`measure` gives recall on errors and the false-flag rate on variants.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.evaluation.grounding import ACTIONS, NotesChecker
from workbench.evaluation.lexicon import DrugLexicon, default_events
from workbench.evaluation.normalize import ERAS
from workbench.summary.cases import Case, load_case, resolve_relative_dates

logger = logging.getLogger(__name__)

SEED = 13
SOURCE = "both"
ERROR_KINDS = ("value_swap", "date_shift", "drug_absent", "wrong_day")
VARIANT_KINDS = ("plain", "fullwidth", "date_style", "unit_spelling", "next_day")
_MD_RE = re.compile(r"(?<![\d/年])(\d{1,2})月(\d{1,2})日")
_VALUE_RE = re.compile(r"(?<![\d.A-Za-z])(\d+(?:\.\d+)?)(?![\d.])")
_LABELLED_RE = re.compile(
    r"(?P<label>[A-Za-z][A-Za-z0-9\-]*|[ァ-ヺー]{2,}|体温|血圧|脈拍|心拍数|血糖|白血球|体重|尿量)"
    r"(?P<gap>\s*(?:は|:|：)?\s*)(?P<value>\d+(?:\.\d+)?)(?P<unit>\s*(?:mg/dL|g/dL|mEq/L|mg|g|mL|%|/μL|ng/mL|U/L)?)"
    r"(?![A-Za-z\d.])"
)
"""A value with its name; :func:`_labelled` drops digits that are part of a word (SpO2, KL-6)."""


def _labelled(text: str) -> list[re.Match[str]]:
    return [m for m in _LABELLED_RE.finditer(text) if m["gap"] or m["unit"].strip()]


@dataclass(frozen=True)
class Item:
    """One planted sentence.

    Attributes
    ----------
    id : str
    case : str
        The case folder name; the sentence is checked against its notes (``source = both``).
    label : str
        ``error`` or ``variant``.
    kind : str
        One of :data:`ERROR_KINDS` or :data:`VARIANT_KINDS`.
    sentence : str
        What is checked.
    base : str
        The sentence it was made from (equal to ``sentence`` for ``plain``).
    notes : str
        Notes to check against instead of the case's (``next_day`` items carry their own); empty otherwise.
    """

    id: str
    case: str
    label: str
    kind: str
    sentence: str
    base: str
    notes: str = ""


def _md(day: dt.date) -> str:
    return f"{day.month}月{day.day}日"


def _date_of(match: re.Match[str], anchor: dt.date) -> dt.date | None:
    from workbench.evaluation.normalize import nearest_year

    month, day = int(match[1]), int(match[2])
    try:
        return dt.date(nearest_year(month, day, anchor), month, day)
    except ValueError:
        return None


def _sentences(text: str) -> list[str]:
    pieces = re.split(r"(?<=。)|\n", unicodedata.normalize("NFKC", text))
    return [p.strip() for p in pieces if len(p.strip()) >= 8 and not p.strip().startswith("・")]


class _Notes:
    """Raw views of one case's notes for deciding, independently of the check, what is true."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.text = f"{case.ichigo}\n{case.karte(SOURCE, annotate_dates=True)}"
        self.lower = unicodedata.normalize("NFKC", self.text).lower()
        self.ichigo = unicodedata.normalize("NFKC", case.ichigo).lower()
        by_day: dict[dt.date, list[str]] = defaultdict(list)
        by_day[case.admission_date].append(unicodedata.normalize("NFKC", case.ichigo))  # tells that day
        for entry in case.entries(SOURCE):
            resolved = resolve_relative_dates(entry.text, entry.date)
            by_day[entry.date].append(unicodedata.normalize("NFKC", resolved))
        self.days = {day: "\n".join(parts).lower() for day, parts in by_day.items()}

    def day_mentions(self, day: dt.date, spellings: Iterable[str]) -> bool:
        """Whether the notes of ``day``, or any line naming ``day``, hold one of ``spellings``.

        For a day up to the admission that the notes name, the admission record counts too (history is told
        there), as in the grounding check's definition.
        """
        texts = [self.days.get(day, "")]
        names = (day.isoformat(), _md(day), f"{day.month}/{day.day}")
        named = [line for line in self.lower.splitlines() if any(n in line for n in names)]
        texts += named
        if day <= self.case.admission_date and (named or day in self.days):
            texts.append(self.ichigo)
        return any(s.lower() in text for s in spellings for text in texts)

    def day_texts(self, day: dt.date) -> str:
        """The notes of ``day`` and the lines naming it (the admission record too, up to admission)."""
        names = (day.isoformat(), _md(day), f"{day.month}/{day.day}")
        named = [line for line in self.lower.splitlines() if any(n in line for n in names)]
        texts = [self.days.get(day, ""), *named]
        if day <= self.case.admission_date and (named or day in self.days):
            texts.append(self.ichigo)
        return "\n".join(texts)

    def action_moved(self, day: dt.date, spellings: Sequence[str], action: str) -> bool:
        """Whether saying ``action`` (start/stop) happened to the event on ``day`` is wrong by the notes.

        Wrong when no line of that day holds the event with a word of that kind, and the event was already
        given with a dose before that day (start), or is still given with a dose after it (stop).
        """
        words = ACTIONS[action]
        for line in re.split(r"[。\n]", self.day_texts(day)):
            if any(s.lower() in line for s in spellings) and any(w in line for w in words):
                return False
        dosed = [
            d for d, text in self.days.items()
            if any(any(s.lower() in line for s in spellings) and _DOSE_RE.search(line)
                   for line in re.split(r"[。\n]", text))
        ]
        if not dosed:
            return False
        if action == "start":
            return min(dosed) < day
        if action == "stop":
            return max(dosed) > day
        return False

    def holds(self, spellings: Iterable[str]) -> bool:
        return any(s.lower() in self.lower for s in spellings)


def _spellings(lexicon: DrugLexicon, text: str) -> list[tuple[int, str]]:
    """(group, spelling as written) of the lexicon's terms in raw ``text``."""
    found = []
    lowered = text.lower()
    for group, spelling, _, _ in lexicon.find(lowered):
        index = lowered.find(spelling)
        if index >= 0:
            found.append((group, text[index : index + len(spelling)]))
    return found


_DOSE_RE = re.compile(r"\d+(?:\.\d+)?\s*(?:mg|g|μg|ml|l|単位|錠|包|l/分)(?![a-z])")


def _action_class(text: str) -> str | None:
    """The kind of the first start or stop word in ``text`` (up to the end of its sentence)."""
    sentence = re.split(r"[。、]", text, maxsplit=1)[0]
    found = [(sentence.find(w), kind) for kind in ("start", "stop") for w in ACTIONS[kind] if w in sentence]
    return min(found)[1] if found else None


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def _era(day: dt.date) -> str:
    return f"令和{day.year - ERAS['令和']}年{day.month}月{day.day}日"


def _date_styles(day: dt.date) -> list[str]:
    return [_era(day), f"{day.year}年{day.month}月{day.day}日", f"{day.year}/{day.month}/{day.day}",
            f"{day.month}/{day.day}"]


class _Generator:
    def __init__(self, cases: Sequence[Case]) -> None:
        self.cases = cases
        self.rng = random.Random(SEED)
        self.drugs = DrugLexicon.default()
        self.events = default_events()
        self.items: list[Item] = []

    def add(self, case: Case, label: str, kind: str, sentence: str, base: str, notes: str = "") -> None:
        number = sum(item.case == case.case_id for item in self.items)
        item_id = f"{case.case_id}-{number:04d}"
        self.items.append(Item(item_id, case.case_id, label, kind, sentence, base, notes))

    def run(self) -> list[Item]:
        for case in self.cases:
            self.rng = random.Random(f"{SEED}:{case.case_id}")  # a case's items do not depend on the others
            notes = _Notes(case)
            checker = NotesChecker(notes.text, anchor=case.admission_date)
            bases = [s for s in _sentences(case.reference or "") if not checker.check(s).flagged]
            bases = [s for s in bases if checker.check(s).n_claims]
            plain = self.plain(case, notes)
            for sentence in plain:
                self.add(case, "variant", "plain", sentence, sentence)
            for base in bases + plain:
                self.errors(case, notes, base)
            for base in bases + plain:
                self.variants(case, base)
            self.next_day(case, notes)
        return self.items

    # -- true sentences from the notes -------------------------------------------------------------------
    def plain(self, case: Case, notes: _Notes) -> list[str]:
        sentences = []
        for day, text in sorted(notes.days.items()):
            terms = [(g, s) for g, s in _spellings(self.drugs, text)] + [
                (g, s) for g, s in _spellings(self.events, text)
            ]
            if terms:
                _, term = self.rng.choice(terms)
                verb = self.rng.choice(["を施行", "を継続", "を確認", "を実施"])
                sentences.append(f"{_md(day)}に{term}{verb}した。")
            for match in _labelled(text):
                if match["unit"].strip() and self.rng.random() < 0.5:
                    sentences.append(f"{_md(day)}の{match['label']}は{match['value']}{match['unit'].strip()}であった。")
                    break
        return sentences

    # -- errors ------------------------------------------------------------------------------------------
    def errors(self, case: Case, notes: _Notes, base: str) -> None:
        anchor = case.admission_date
        self.value_swap(case, notes, base)
        drugs = _spellings(self.drugs, base)
        if drugs:
            _, spelling = drugs[0]
            absent = [g for g in range(len(self.drugs.groups)) if not notes.holds(self.drugs.groups[g])]
            if absent:
                other = self.drugs.groups[self.rng.choice(absent)][0]
                self.add(case, "error", "drug_absent", base.replace(spelling, other, 1), base)
        date = _MD_RE.search(base)
        if date is None:
            return
        day = _date_of(date, anchor)
        terms = _spellings(self.drugs, base) + _spellings(self.events, base)
        if day is None or not terms:
            return
        # the term the date is attached to: the first one written after it (else the last before it)
        lowered = base.lower()
        positions = sorted((lowered.find(s.lower()), s) for _, s in terms)
        after = [(p, s) for p, s in positions if p >= date.end()]
        attached = after[0][1] if after else positions[-1][1]
        group_spellings = [self._group(spelling) for _, spelling in terms]
        action = _action_class(base[date.end() :])
        for shift in (1, -1):
            new = day + dt.timedelta(days=shift)
            if new < anchor - dt.timedelta(days=60):
                continue
            # Mentioned that day, e.g. a drug continued: still wrong when the sentence says it started
            # (stopped) then and the notes of that day do not, while it was already (still) going.
            mentioned = any(notes.day_mentions(new, spellings) for spellings in group_spellings)
            if mentioned and (action is None or not notes.action_moved(new, self._group(attached), action)):
                continue
            sentence = base[: date.start()] + _md(new) + base[date.end() :]
            self.add(case, "error", "date_shift", sentence, base)
            break
        self.value_on_wrong_day(case, notes, base, date, day)
        # an event of another day put on this one
        spelling = attached
        others = [
            (d, s) for d, text in notes.days.items() if d != day
            for _, s in _spellings(self.drugs, text) + _spellings(self.events, text)
            if not notes.day_mentions(day, self._group(s)) and s.lower() != spelling.lower()
            and not any(s.lower() in t.lower() or t.lower() in s.lower() for _, t in terms)
        ]
        if others:
            _, other = self.rng.choice(sorted(others))
            at = lowered.find(spelling.lower(), date.end()) if after else lowered.rfind(spelling.lower(), 0)
            sentence = base[:at] + other + base[at + len(spelling) :]
            self.add(case, "error", "wrong_day", sentence, base)

    def value_on_wrong_day(
        self, case: Case, notes: _Notes, base: str, date: re.Match[str], day: dt.date
    ) -> None:
        """A day's value of a test put on another day when the test was done with another value."""
        labelled = [m for m in _labelled(base) if m.start() > date.end()]
        if not labelled:
            return
        target = labelled[0]
        spellings = self._group(target["label"].lower())
        value = re.escape(target["value"])
        pattern = "|".join(re.escape(s.lower()) for s in spellings)
        for other in sorted(notes.days):
            if other == day or abs((other - day).days) > 3:
                continue
            text = notes.day_texts(other)
            if re.search(rf"(?<![a-z])(?:{pattern})", text) and not re.search(
                rf"(?:{pattern})[^。\n]{{0,12}}(?<![\d.]){value}(?![\d.])", text
            ):
                sentence = base[: date.start()] + _md(other) + base[date.end() :]
                self.add(case, "error", "wrong_day", sentence, base)
                return

    def _group(self, spelling: str) -> tuple[str, ...]:
        for lexicon in (self.drugs, self.events):
            group = lexicon.group_of(spelling.lower())
            if group is not None:
                return lexicon.groups[group]
        return (spelling,)

    def value_swap(self, case: Case, notes: _Notes, base: str) -> None:
        labelled = _labelled(base)
        if not labelled:
            return
        target = labelled[0]
        label = target["label"].lower()
        spellings = self._group(label)
        pool = sorted(
            {m["value"] for m in _labelled(notes.lower) if m["label"].lower() not in spellings}
            - {target["value"]}
        )
        pattern = "|".join(re.escape(s.lower()) for s in spellings)
        pool = [
            v for v in pool
            if not re.search(rf"(?:{pattern})[^0-9。\n]{{0,8}}(?<![\d.]){re.escape(v)}(?![\d.])", notes.lower)
        ]
        if len(labelled) >= 2 and labelled[1]["value"] != target["value"]:
            second = labelled[1]
            swapped = (
                base[: target.start("value")] + second["value"]
                + base[target.end("value") : second.start("value")]
                + target["value"] + base[second.end("value") :]
            )
            other_spellings = self._group(second["label"].lower())
            other_pattern = "|".join(re.escape(s.lower()) for s in other_spellings)
            true_first = re.search(
                rf"(?:{pattern})[^0-9。\n]{{0,8}}(?<![\d.]){re.escape(second['value'])}(?![\d.])", notes.lower
            )
            true_second = re.search(
                rf"(?:{other_pattern})[^0-9。\n]{{0,8}}(?<![\d.]){re.escape(target['value'])}(?![\d.])",
                notes.lower,
            )
            if not true_first and not true_second:
                self.add(case, "error", "value_swap", swapped, base)
                return
        if pool:
            value = self.rng.choice(pool)
            sentence = base[: target.start("value")] + value + base[target.end("value") :]
            self.add(case, "error", "value_swap", sentence, base)

    # -- variants ----------------------------------------------------------------------------------------
    def variants(self, case: Case, base: str) -> None:
        if re.search(r"\d", base):
            self.add(case, "variant", "fullwidth", _fullwidth(base), base)
        date = _MD_RE.search(base)
        day = _date_of(date, case.admission_date) if date else None
        if date is not None and day is not None:
            style = self.rng.choice(_date_styles(day))
            self.add(case, "variant", "date_style", base[: date.start()] + style + base[date.end() :], base)
        spelled = re.sub(r"(?<=\d)\s*mg(?![a-zA-Z/])", "ミリグラム", base)
        spelled = re.sub(r"(?<=\d)\s*mL(?![a-zA-Z])", "ミリリットル", spelled)
        if spelled != base:
            self.add(case, "variant", "unit_spelling", spelled, base)

    def next_day(self, case: Case, notes: _Notes) -> None:
        """Notes of a day saying 翌日/翌朝 about a drug or event; the summary gives the resolved date.

        The word is resolved as ``case.karte(annotate_dates=True)`` does; the next day's own notes are left
        out, so only the resolved word can support the date.
        """
        days = sorted(notes.days)
        if len(days) < 4:
            return
        for day in self.rng.sample(days[1:-1], min(3, len(days) - 2)):
            terms = _spellings(self.drugs, notes.lower) + _spellings(self.events, notes.days[day])
            if not terms:
                continue
            _, term = self.rng.choice(sorted(terms))
            word = self.rng.choice(["翌日", "翌朝"])
            verb = self.rng.choice(["開始", "再開", "施行"])
            next_day = day + dt.timedelta(days=1)
            note = resolve_relative_dates(f"{word}より{term}を{verb}予定", day)
            karte = "\n".join(
                f"<day-{d.isoformat()}>\n<P>{note if d == day else notes.days[d]}</P>\n</day-{d.isoformat()}>"
                for d in days
                if d != next_day
            )
            sentence = f"{_md(next_day)}より{term}を{verb}した。"
            self.add(case, "variant", "next_day", sentence, f"{word}より{term}を{verb}予定",
                     notes=f"{case.ichigo}\n{karte}")


def generate(case_dirs: Iterable[str | Path]) -> list[Item]:
    """The planted set of the cases in ``case_dirs`` (deterministic)."""
    cases = [load_case(path) for path in sorted(Path(p) for p in case_dirs)]
    return _Generator([c for c in cases if c.reference]).run()


def write(items: Sequence[Item], path: str | Path) -> Path:
    """Write ``items`` as JSON lines (atomically)."""
    from workbench.files import atomic_write

    text = "".join(json.dumps(asdict(item), ensure_ascii=False) + "\n" for item in items)
    target = Path(path)
    atomic_write(target, text.encode("utf-8"))
    return target


def read(path: str | Path) -> list[Item]:
    """Read a planted set written by :func:`write`."""
    return [Item(**json.loads(line)) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


@dataclass(frozen=True)
class Detection:
    """What the grounding check did on a planted set.

    Attributes
    ----------
    recall : float
        Share of errors with a flag the base sentence did not have.
    false_flag_rate : float
        Share of variants with any flag.
    n_errors, n_variants : int
    by_kind : dict
        Kind -> (items, flagged).
    missed, false_flags : list of str
        Ids of errors not caught and of variants flagged.
    """

    recall: float
    false_flag_rate: float
    n_errors: int
    n_variants: int
    by_kind: dict[str, tuple[int, int]]
    missed: list[str]
    false_flags: list[str]


def measure(items: Sequence[Item], cases: Mapping[str, Case]) -> Detection:
    """Run the grounding check on every item of a planted set.

    Parameters
    ----------
    items
        :func:`read` or :func:`generate` output.
    cases
        Case id -> Case (the items' notes).

    Returns
    -------
    Detection
    """
    from workbench.evaluation.score import notes_checker

    checkers: dict[str, NotesChecker] = {}
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed, false_flags = [], []
    for item in items:
        case = cases[item.case]
        if item.notes:
            checker = NotesChecker(item.notes, anchor=case.admission_date)
        else:
            checker = checkers.get(item.case) or checkers.setdefault(item.case, notes_checker(case, SOURCE))
        flags = {c.text for c in checker.check(item.sentence).flagged}
        if item.label == "error":
            flags -= {c.text for c in checker.check(item.base).flagged}
        flagged = bool(flags)
        by_kind[item.kind][0] += 1
        by_kind[item.kind][1] += flagged
        if item.label == "error" and not flagged:
            missed.append(item.id)
        if item.label == "variant" and flagged:
            false_flags.append(item.id)
    n_errors = sum(item.label == "error" for item in items)
    n_variants = len(items) - n_errors
    return Detection(
        recall=(n_errors - len(missed)) / n_errors if n_errors else float("nan"),
        false_flag_rate=len(false_flags) / n_variants if n_variants else float("nan"),
        n_errors=n_errors,
        n_variants=n_variants,
        by_kind={kind: (counts[0], counts[1]) for kind, counts in sorted(by_kind.items())},
        missed=missed,
        false_flags=false_flags,
    )
