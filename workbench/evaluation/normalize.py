"""Canonical forms for comparing clinical Japanese text: widths, numbers, units and dates.

Before a fact is looked up in a summary, or a number in a summary is looked up in the notes, both texts are
brought to one form, so that ``１０ｍｇ``, ``10 mg`` and ``10ミリグラム`` are the same thing, and so are
``7月25日``, ``7/25``, ``2023年7月25日``, ``令和5年7月25日`` and ``2023-07-25``:

- Unicode NFKC: full-width letters and digits become half-width, ``㎎`` becomes ``mg``, ``℃`` becomes ``°C``;
- thousands separators go (``1,200`` -> ``1200``) and a space between a number and its unit goes;
- kanji numerals before a unit or a dose counter are read (``五十mg`` -> ``50mg``, ``二錠`` -> ``2錠``; not
  before 日/時/分, where ``一時``, ``十分`` are words);
- units written after a number take one spelling (``ml``, ``cc``, ``ミリリットル`` -> ``mL``;
  ``mg/dl`` -> ``mg/dL``);
- dates become ISO ``YYYY-MM-DD`` (also ``R5.7.25``, ``H30/1/2`` and kanji ``七月二十五日``). A date
  without a year (``7月25日``, ``7/25``) takes the year that puts it nearest to the ``anchor`` date (the
  case's admission), so December notes of a stay into January work; without an anchor such dates are left
  as written.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata

logger = logging.getLogger(__name__)

ERAS = {"令和": 2018, "平成": 1988, "昭和": 1925}
"""Japanese era name -> the Gregorian year before the era's first year (令和1年 = 2019)."""

UNITS: dict[str, tuple[str, ...]] = {
    "mg/dL": ("mg/dl", "ミリグラム/デシリットル"),
    "g/dL": ("g/dl",),
    "mEq/L": ("meq/l",),
    "mmol/L": ("mmol/l",),
    "mmHg": ("mmhg",),
    "μg": ("μg", "mcg", "マイクログラム"),
    "mg": ("mg", "ミリグラム"),
    "kg": ("kg", "キログラム"),
    "g": ("g", "グラム"),
    "mL": ("ml", "cc", "ミリリットル"),
    "L": ("l", "リットル"),
    "°C": ("°c",),
    "U": ("単位", "iu"),
    "%": ("%", "パーセント"),
}
"""Canonical unit -> spellings (compared case-insensitively, only right after a number)."""

_UNIT_ALIASES = {alias: unit for unit, aliases in UNITS.items() for alias in (*aliases, unit.lower())}
_UNIT_RE = re.compile(
    r"(\d)\s*("
    + "|".join(re.escape(a) for a in sorted(_UNIT_ALIASES, key=len, reverse=True))
    + r")(?![a-z])",
    re.IGNORECASE,
)
_THOUSANDS_RE = re.compile(r"(?<![\d.])(\d{1,3})((?:,\d{3})+)(?![\d,])")
_ERA_RE = re.compile(r"(令和|平成|昭和)(元|\d{1,2})年(\d{1,2})月(\d{1,2})日")
_ERA_SHORT_RE = re.compile(r"(?<![A-Za-z\d])([RHS])(\d{1,2})[./](\d{1,2})[./](\d{1,2})(?![\d./])")
_ERA_LETTERS = {"R": "令和", "H": "平成", "S": "昭和"}
_KANJI_DATE_RE = re.compile(r"([一二三四五六七八九十]{1,3})月([一二三四五六七八九十]{1,3})日")
_YMD_KANJI_RE = re.compile(r"(?<!\d)(\d{4})年(\d{1,2})月(\d{1,2})日")
_YMD_SEP_RE = re.compile(r"(?<!\d)(\d{4})([/.-])(\d{1,2})\2(\d{1,2})(?!\d)")
_MD_KANJI_RE = re.compile(r"(?<![\d年])(\d{1,2})月(\d{1,2})日")
_MD_SLASH_RE = re.compile(r"(?<![\d/.])(\d{1,2})/(\d{1,2})(?![\d/.]|錠|包|量|回|本)")
ISO_DATE_RE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
"""A date as :func:`normalize` writes it."""


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def nearest_year(month: int, day: int, anchor: dt.date) -> int:
    """The year that puts ``month``/``day`` nearest to ``anchor`` (the anchor's year, or one either side)."""
    best, best_gap = anchor.year, None
    for year in (anchor.year - 1, anchor.year, anchor.year + 1):
        try:
            gap = abs((dt.date(year, month, day) - anchor).days)
        except ValueError:
            continue
        if best_gap is None or gap < best_gap:
            best, best_gap = year, gap
    return best


def normalize_dates(text: str, anchor: dt.date | None = None) -> str:
    """Rewrite the dates in (NFKC) ``text`` as ISO ``YYYY-MM-DD``.

    Parameters
    ----------
    text
        Text already in NFKC form (see :func:`normalize`).
    anchor
        A date inside the case (its admission): dates without a year take the year nearest to it. Without an
        anchor they are left as written.

    Returns
    -------
    str
        Impossible dates (``2月30日``) are left as written.
    """

    def full(match: re.Match[str], year: int, month: str, day: str) -> str:
        return _iso(year, int(month), int(day)) or match.group(0)

    text = _KANJI_DATE_RE.sub(
        lambda m: f"{kanji_number(m[1])}月{kanji_number(m[2])}日"
        if kanji_number(m[1]) and kanji_number(m[2])
        else m.group(0),
        text,
    )
    text = _ERA_RE.sub(lambda m: full(m, ERAS[m[1]] + (1 if m[2] == "元" else int(m[2])), m[3], m[4]), text)
    text = _ERA_SHORT_RE.sub(lambda m: full(m, ERAS[_ERA_LETTERS[m[1]]] + int(m[2]), m[3], m[4]), text)
    text = _YMD_KANJI_RE.sub(lambda m: full(m, int(m[1]), m[2], m[3]), text)
    text = _YMD_SEP_RE.sub(lambda m: full(m, int(m[1]), m[3], m[4]), text)
    if anchor is not None:
        for pattern in (_MD_KANJI_RE, _MD_SLASH_RE):
            text = pattern.sub(
                lambda m: (
                    full(m, nearest_year(int(m[1]), int(m[2]), anchor), m[1], m[2])
                    if 1 <= int(m[1]) <= 12
                    else m.group(0)
                ),
                text,
            )
    return text


_KANJI_DIGITS = dict(zip("〇零一二三四五六七八九", (0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9), strict=True))
_KANJI_POWERS = {"十": 10, "百": 100, "千": 1000}
_KANJI_COUNTERS = ("錠", "歳", "回", "包", "本", "日間", "週間", "ヶ月", "か月", "カ月", "アンプル",
                   "バイアル")
_KANJI_NUMBER_RE = re.compile(
    r"(?<![〇零一二三四五六七八九十百千万])([〇零一二三四五六七八九十百千]+)(?=\s*(?:"
    + "|".join(re.escape(a) for a in sorted([*_UNIT_ALIASES, *_KANJI_COUNTERS], key=len, reverse=True))
    + r"))",
    re.IGNORECASE,
)


def kanji_number(numeral: str) -> int | None:
    """The value of a kanji numeral (``五十`` -> 50, ``二百五`` -> 205, ``一〇〇`` -> 100).

    Returns None when it is malformed (two digits in a row inside a 十/百/千 numeral).
    """
    if not any(c in _KANJI_POWERS for c in numeral):  # positional: 一〇〇
        return int("".join(str(_KANJI_DIGITS[c]) for c in numeral)) if numeral else None
    total, digit = 0, None
    for char in numeral:
        if char in _KANJI_DIGITS:
            if digit is not None:
                return None  # two digits in a row inside a 十/百/千 numeral
            digit = _KANJI_DIGITS[char]
        else:
            total += (1 if digit is None else digit) * _KANJI_POWERS[char]
            digit = None
    return total + (digit or 0)


def normalize_units(text: str) -> str:
    """Spell units after numbers one way and drop thousands separators (``1,200 ml`` -> ``1200mL``).

    Kanji numerals before a unit or dose counter become digits first (``五十ミリグラム`` -> ``50mg``).
    """

    def arabic(match: re.Match[str]) -> str:
        value = kanji_number(match[1])
        return match[1] if value is None else str(value)

    text = _KANJI_NUMBER_RE.sub(arabic, text)
    text = _THOUSANDS_RE.sub(lambda m: m[1] + m[2].replace(",", ""), text)
    return _UNIT_RE.sub(lambda m: m[1] + _UNIT_ALIASES[m[2].lower()], text)


def normalize(text: str, *, anchor: dt.date | None = None) -> str:
    """Bring clinical Japanese text to the canonical form used to compare facts, numbers and dates.

    Parameters
    ----------
    text
        Any text.
    anchor
        The case's admission date, to place dates written without a year (see :func:`normalize_dates`).

    Returns
    -------
    str
        NFKC text with units and dates in one spelling (case and line breaks kept).

    Examples
    --------
    >>> normalize("１０ｍｇ 7月25日", anchor=dt.date(2023, 7, 22))
    '10mg 2023-07-25'
    """
    text = unicodedata.normalize("NFKC", text)
    return normalize_units(normalize_dates(text, anchor))


def match_form(text: str, *, anchor: dt.date | None = None) -> str:
    """:func:`normalize`, then lower case without whitespace: the form substrings are looked up in."""
    return re.sub(r"\s+", "", normalize(text, anchor=anchor)).lower()


def iso_dates(text: str) -> list[str]:
    """The ISO dates in normalised ``text``, in order."""
    return [m.group(0) for m in ISO_DATE_RE.finditer(text)]
