"""Dates without losing the timeline: one per-patient shift, birth dates as ages, ages over 89 grouped.

Every date of a patient is moved by the same number of days before text leaves the machine, and moved
back in the answer. The offset is a whole number of weeks (so weekdays stay right: ``7月25日(火)`` stays a
Tuesday) between 1 and 52 weeks, earlier or later, derived from the patient ID and a random key kept only on
this machine (``<data dir>/redaction.key``, 0600): the same patient always gets the same offset here, and
nobody without the key can compute it. Intervals stay exact, so ``入院3日目``, ``翌日`` and ``昨日`` (which
count from the shifted tag dates) keep working.

Spellings recognised and written back in the same form (zero padding, separators and full-width digits
kept): ``2023-07-25``, ``2023/7/25``, ``2023.07.25``, ``2023年7月25日``, ``令和5年7月25日``, ``R5.7.25``,
``7月25日``, ``7/25`` (not when it reads as a fraction: ``1/2錠``), ``2023年7月`` and ``7月上旬`` (moved by
the offset in whole months). Years alone are left as they are (Safe Harbor keeps years).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets

from workbench import config
from workbench.files import atomic_write

logger = logging.getLogger(__name__)

KEY_FILE = "redaction.key"
_ERAS = {"明治": 1868, "大正": 1912, "昭和": 1926, "平成": 1989, "令和": 2019}
_ERA_LETTERS = {"M": "明治", "T": "大正", "S": "昭和", "H": "平成", "R": "令和"}
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

_Y = r"(?P<y>(?:19|20)\d\d|[１２][９０]\d\d)"
_M = r"(?P<m>1[0-2]|0?[1-9]|１[０-２]|０?[１-９])"
_DD = r"(?P<d>3[01]|[12]\d|0?[1-9]|３[０１]|[１２][０-９]|０?[１-９])"
_ERA = r"(?P<era>明治|大正|昭和|平成|令和|(?<![A-Za-z])[MTSHR])"
_FRACTION_AFTER = r"錠|包|量|本|管|回|倍|程度|周|筒|枚|袋|包|T|A|V|g|mg|ml|mL|L|%|％"
DATE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "era",
        re.compile(
            rf"{_ERA}\s?(?P<ey>元|\d{{1,2}})(?P<s>年|[./\-])\s?{_M}(?:月|(?P=s))\s?{_DD}(?P<nichi>日?)"
        ),
    ),
    ("kanji", re.compile(rf"(?<!\d){_Y}年\s?{_M}月\s?{_DD}日")),
    ("iso", re.compile(rf"(?<![\d.]){_Y}(?P<s>[-/.]){_M}(?P=s){_DD}(?![\d])")),
    ("month_day", re.compile(rf"(?<![\d年]){_M}月\s?{_DD}日")),
    (
        "slash",
        re.compile(
            rf"(?<![\d/.]){_M}/{_DD}(?![\d/.]|\s?(?:{_FRACTION_AFTER}))(?=[(（\s、。,，~〜～:：\-]|[ぁ-ん]|入|退|$)"
        ),
    ),
    ("year_month", re.compile(rf"(?<!\d){_Y}年\s?{_M}月(?!\s?\d{{1,2}}日|\s?[０-９]{{1,2}}日)")),
    ("month", re.compile(rf"(?<![\d年]){_M}月(?=上旬|中旬|下旬|初旬|頃|ごろ|末|初め)")),
)
"""Date spellings, most specific first (an earlier match wins where two overlap)."""

_BIRTH_DATE = "|".join(f"(?:{p.pattern})" for name, p in DATE_PATTERNS if name in ("era", "kanji", "iso"))
_BIRTH_DATE = re.sub(r"\(\?P<\w+>", "(", _BIRTH_DATE).replace("(?P=s)", "[-/.年月]")
BIRTH_DATE_PATTERN = (
    rf"(?<=(?:生年月日|誕生日)\s*[:：]?\s*)(?:{_BIRTH_DATE})"
    rf"|(?:{_BIRTH_DATE})\s?(?:生まれ|生)(?!活|化|検|理|食|命|存|体|後)"
)
"""A birth date, labelled (``生年月日: 1946年3月2日``) or followed by ``生``/``生まれ``.

For the ``regex`` module (variable-length look-behind), which Presidio matches with."""
AGE_OVER_89_RE = re.compile(r"(?<![\d.])(?:9\d|1[01]\d|[９][０-９])\s?歳")
"""An age over 89 (HIPAA groups them as 90 or older)."""


def _int(text: str) -> int:
    return int(text)  # int() reads full-width digits too


def _like(value: int, original: str, padded: bool = False) -> str:
    """``value`` written as ``original`` was: same zero padding (two digits if ``padded``), same width."""
    if padded or (original[:1] in "0０" and len(original) > 1):
        text = f"{value:0{max(len(original), 2)}d}"
    else:
        text = str(value)
    return text.translate(_FULLWIDTH) if any("０" <= c <= "９" for c in original) else text


def _replace_group(match: re.Match[str], values: dict[str, int]) -> str:
    """The matched text with groups ``y``, ``m``, ``d``, ``ey`` replaced by ``values`` (formats kept)."""
    text, base = match.group(0), match.start()
    groups = match.groupdict()
    padded = any(
        (groups.get(n) or "")[:1] in ("0", "０") and len(groups.get(n) or "") > 1 for n in ("m", "d")
    )
    for name in sorted(values, key=lambda n: match.start(n), reverse=True):
        start, end = match.start(name) - base, match.end(name) - base
        original = match.group(name)
        if name == "ey" and values[name] == 1 and original == "元":
            new = "元"
        else:
            new = _like(values[name], original, padded and name in ("m", "d"))
        text = text[:start] + new + text[end:]
    return text


_SCORE_BEFORE = re.compile(
    r"(?:MMT|NRS|VAS|NPRS|ECOG|PS|GCS|JCS|Grade|grade|スコア|score|筋力|疼痛|痛み)\s*[:：]?\s*\Z"
)
"""Labels after which ``4/5`` is a score (read on the text just before a slash date)."""


def _matches(text: str) -> list[tuple[int, int, str, re.Match[str]]]:
    """Every date in ``text``: (start, end, spelling, match), in order, never overlapping."""
    spans: list[tuple[int, int, str, re.Match[str]]] = []
    for kind, pattern in DATE_PATTERNS:
        for match in pattern.finditer(text):
            if kind == "slash" and _SCORE_BEFORE.search(text, max(0, match.start() - 12), match.start()):
                continue  # MMT 4/5, NRS 3/10: a score, not a date
            if not any(s < match.end() and match.start() < e for s, e, _, _ in spans):
                spans.append((match.start(), match.end(), kind, match))
    return sorted(spans, key=lambda s: s[0])


def date_spans(text: str) -> list[tuple[int, int]]:
    """Where the dates of ``text`` are (start, end), in order."""
    return [(start, end) for start, end, _, _ in _matches(text)]


def _nearest_year(month: int, day: int, reference: dt.date) -> dt.date | None:
    candidates = []
    for year in (reference.year - 1, reference.year, reference.year + 1):
        try:
            candidates.append(dt.date(year, month, day))
        except ValueError:
            continue
    return min(candidates, key=lambda d: abs((d - reference).days)) if candidates else None


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


class DateShifter:
    """Moves every date in a text by ``days`` (and back).

    Parameters
    ----------
    days : int
        The offset; a multiple of 7 keeps weekdays.
    reference : datetime.date
        A date of the stay (the admission date): the year of dates written without one is the one that
        puts them nearest to it.
    """

    def __init__(self, days: int, reference: dt.date) -> None:
        self.days = int(days)
        self.reference = reference
        self._originals: dict[str, str] = {}

    @staticmethod
    def _move(kind: str, match: re.Match[str], days: int, reference: dt.date) -> str:
        groups = match.groupdict()
        months = round(days / 30.4375)
        try:
            if kind in ("year_month", "month"):
                year = _int(groups["y"]) if groups.get("y") else reference.year
                new_year, new_month = _add_months(year, _int(groups["m"]), months)
                values = {"m": new_month} | ({"y": new_year} if groups.get("y") else {})
                return _replace_group(match, values)
            month, day = _int(groups["m"]), _int(groups["d"])
            if kind == "era":
                era = _ERA_LETTERS.get(groups["era"], groups["era"])
                era_year = 1 if groups["ey"] == "元" else _int(groups["ey"])
                date = dt.date(_ERAS[era] + era_year - 1, month, day)
            elif kind in ("kanji", "iso"):
                date = dt.date(_int(groups["y"]), month, day)
            else:
                found = _nearest_year(month, day, reference)
                if found is None:
                    return match.group(0)
                date = found
        except ValueError:  # not a real date (2月30日): not a date, left alone
            return match.group(0)
        moved = date + dt.timedelta(days=days)
        values = {"m": moved.month, "d": moved.day}
        if kind == "era":
            values["ey"] = moved.year - _ERAS[_ERA_LETTERS.get(groups["era"], groups["era"])] + 1
        elif kind in ("kanji", "iso"):
            values["y"] = moved.year
        return _replace_group(match, values)

    def _apply(
        self, text: str, days: int, reference: dt.date, known: dict[str, str] | None = None
    ) -> tuple[str, list[tuple[str, str]]]:
        out, position, moves = [], 0, []
        for start, end, kind, match in _matches(text):
            original = match.group(0)
            moved = (
                known[original] if known and original in known else self._move(kind, match, days, reference)
            )
            out += [text[position:start], moved]
            moves.append((original, moved))
            position = end
        out.append(text[position:])
        return "".join(out), moves

    def shift(self, text: str) -> str:
        """``text`` with every date moved forward by the offset."""
        shifted, moves = self._apply(text, self.days, self.reference)
        for original, moved in moves:
            self._originals.setdefault(moved, original)
        return shifted

    def unshift(self, text: str) -> str:
        """``text`` with every date moved back (the inverse of :meth:`shift`).

        A date written exactly as :meth:`shift` wrote it gets back its original spelling (``2023.07.05``
        and ``2023.7.5`` both exist); other spellings are moved back in their own form.
        """
        reference = self.reference + dt.timedelta(days=self.days)
        return self._apply(text, -self.days, reference, self._originals)[0]

    def count(self, text: str) -> int:
        """How many dates ``text`` holds."""
        return len(self._apply(text, 0, self.reference)[1])


def age_text(birth_date_text: str, reference: dt.date) -> str | None:
    """The age on ``reference`` of a birth date written in ``birth_date_text`` (``77歳``, ``90歳以上``).

    ``None`` when no full date can be read.
    """
    for kind, pattern in DATE_PATTERNS[:3]:
        match = pattern.search(birth_date_text)
        if not match:
            continue
        groups = match.groupdict()
        try:
            if kind == "era":
                era = _ERA_LETTERS.get(groups["era"], groups["era"])
                year = _ERAS[era] + (1 if groups["ey"] == "元" else _int(groups["ey"])) - 1
            else:
                year = _int(groups["y"])
            born = dt.date(year, _int(groups["m"]), _int(groups["d"]))
        except ValueError:
            return None
        age = reference.year - born.year - ((reference.month, reference.day) < (born.month, born.day))
        return "90歳以上" if age >= 90 else f"{age}歳"
    return None


def _key() -> bytes:
    """This machine's redaction key, created on first use (0600 in a 0700 folder)."""
    folder = config.data_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / KEY_FILE
    if not path.exists() and atomic_write(
        path, secrets.token_hex(32).encode("ascii"), mode=0o600, exclusive=True
    ):
        logger.info("created the date-shift key %s (keep it on this machine)", path)
    return path.read_bytes().strip()


def patient_offset(patient_id: str) -> int:
    """The patient's date offset in days: ±7..±364, a whole number of weeks, fixed for this machine."""
    digest = hmac.new(_key(), str(patient_id).upper().encode("utf-8"), hashlib.sha256).digest()
    weeks = 1 + int.from_bytes(digest[:4], "big") % 52
    return weeks * 7 * (1 if digest[4] % 2 else -1)
