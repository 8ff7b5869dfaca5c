"""Known names in every script: kanji, hiragana, katakana and romaji spellings of a DICOM PN.

A patient's name comes from ``meta.json`` or from the archive as a DICOM PN string
(``YAMADA^TARO=山田^太郎=やまだ^たろう``). It is replaced wherever it appears, spelled in any script: the
kana reading is taken from the phonetic group or, when there is none, from the Sudachi dictionary GiNZA
uses; romaji is derived from the kana in Hepburn and Kunrei spellings, with and without long vowels
(``Yamada Tarō``, ``TAROU``, ``Taro``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

_DIGRAPHS = {
    "きゃ": "kya", "きゅ": "kyu", "きょ": "kyo", "しゃ": "sha", "しゅ": "shu", "しょ": "sho",
    "ちゃ": "cha", "ちゅ": "chu", "ちょ": "cho", "にゃ": "nya", "にゅ": "nyu", "にょ": "nyo",
    "ひゃ": "hya", "ひゅ": "hyu", "ひょ": "hyo", "みゃ": "mya", "みゅ": "myu", "みょ": "myo",
    "りゃ": "rya", "りゅ": "ryu", "りょ": "ryo", "ぎゃ": "gya", "ぎゅ": "gyu", "ぎょ": "gyo",
    "じゃ": "ja", "じゅ": "ju", "じょ": "jo", "びゃ": "bya", "びゅ": "byu", "びょ": "byo",
    "ぴゃ": "pya", "ぴゅ": "pyu", "ぴょ": "pyo",
}  # fmt: skip
_MONOGRAPHS = dict(
    zip(
        "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん"
        "がぎぐげござじずぜぞだぢづでどばびぶべぼぱぴぷぺぽぁぃぅぇぉゃゅょ",
        [
            "a",
            "i",
            "u",
            "e",
            "o",
            "ka",
            "ki",
            "ku",
            "ke",
            "ko",
            "sa",
            "shi",
            "su",
            "se",
            "so",
            "ta",
            "chi",
            "tsu",
            "te",
            "to",
            "na",
            "ni",
            "nu",
            "ne",
            "no",
            "ha",
            "hi",
            "fu",
            "he",
            "ho",
            "ma",
            "mi",
            "mu",
            "me",
            "mo",
            "ya",
            "yu",
            "yo",
            "ra",
            "ri",
            "ru",
            "re",
            "ro",
            "wa",
            "o",
            "n",
            "ga",
            "gi",
            "gu",
            "ge",
            "go",
            "za",
            "ji",
            "zu",
            "ze",
            "zo",
            "da",
            "ji",
            "zu",
            "de",
            "do",
            "ba",
            "bi",
            "bu",
            "be",
            "bo",
            "pa",
            "pi",
            "pu",
            "pe",
            "po",
            "a",
            "i",
            "u",
            "e",
            "o",
            "ya",
            "yu",
            "yo",
        ],
        strict=True,
    )
)
_KUNREI = {"shi": "si", "chi": "ti", "tsu": "tu", "fu": "hu", "ji": "zi", "sha": "sya", "shu": "syu",
           "sho": "syo", "cha": "tya", "chu": "tyu", "cho": "tyo",
           "ja": "zya", "ju": "zyu", "jo": "zyo"}  # fmt: skip
_MACRONS = {"a": "ā", "i": "ī", "u": "ū", "e": "ē", "o": "ō"}


def to_hiragana(text: str) -> str:
    """Katakana converted to hiragana (other characters unchanged)."""
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in text)


def to_katakana(text: str) -> str:
    """Hiragana converted to katakana (other characters unchanged)."""
    return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in text)


def _syllables(kana: str) -> list[str]:
    """Romaji syllables (Hepburn) of kana; ``ー`` becomes ``-`` (a long vowel); unknown signs dropped."""
    text, out, i = to_hiragana(kana), [], 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in _DIGRAPHS:
            out.append(_DIGRAPHS[pair])
            i += 2
            continue
        char = text[i]
        if char == "っ" and i + 1 < len(text):
            nxt = _DIGRAPHS.get(text[i + 1 : i + 3]) or _MONOGRAPHS.get(text[i + 1], "")
            out.append("t" if nxt.startswith("ch") else nxt[:1])
        elif char == "ー" and out:
            out.append("-")
        elif char in _MONOGRAPHS:
            out.append(_MONOGRAPHS[char])
        i += 1
    return out


def romaji_variants(kana: str) -> set[str]:
    """Lower-case romaji of ``kana``: Hepburn and Kunrei; long vowels doubled, dropped, h or macron."""
    spellings: set[str] = set()
    for scheme in ("hepburn", "kunrei"):
        syllables = [_KUNREI.get(s, s) if scheme == "kunrei" else s for s in _syllables(kana)]
        # each long vowel (ou, oo, uu, ー) may be written in several ways
        pieces: list[list[str]] = []
        for index, syl in enumerate(syllables):
            previous = syllables[index - 1][-1:] if index else ""
            long_vowel = (
                syl == "-" or (syl in ("u", "o") and previous in ("o",)) or (syl == "u" and previous == "u")
            )
            if long_vowel and previous:
                pieces.append(["", previous if syl == "-" else syl, "h", "macron"])
            else:
                pieces.append([syl])
        for combo in itertools.islice(itertools.product(*pieces), 64):
            word = ""
            for piece in combo:
                if piece == "macron":
                    word = word[:-1] + _MACRONS.get(word[-1:], word[-1:])
                else:
                    word += piece
            if word:
                spellings.add(word)
    return spellings


@dataclass(frozen=True)
class KnownName:
    """One spelling to replace: ``text``, matched case-insensitively when ``ignore_case`` (romaji)."""

    text: str
    ignore_case: bool = False


def _groups(pn: str) -> tuple[list[str], list[str], list[str]]:
    """The alphabetic, ideographic and phonetic components of a PN (``^``-separated, family name first)."""
    groups = [[c.strip() for c in g.split("^") if c.strip()] for g in str(pn).split("=")]
    groups += [[]] * (3 - len(groups))
    alphabetic, ideographic, phonetic = groups[:3]
    # a single-group PN may hold kanji or kana rather than romaji
    if alphabetic and not any(c.isascii() for c in "".join(alphabetic)):
        kana_only = all("ぁ" <= c <= "ヶ" or c in "ー 　" for c in "".join(alphabetic))
        if kana_only and not phonetic:
            phonetic, alphabetic = alphabetic, []
        elif not ideographic:
            ideographic, alphabetic = alphabetic, []
    return alphabetic, ideographic, phonetic


def _forms(components: list[str], *, spaced: bool) -> list[str]:
    """Full names (family+given, either order, with the usual separators) and parts of two or more signs."""
    if not components:
        return []
    first = components[:2]
    forms = ["".join(first)]
    if len(first) == 2:
        forms += [f"{first[0]} {first[1]}", f"{first[0]}　{first[1]}", f"{first[0]}・{first[1]}"]
        if spaced:
            forms += [f"{first[1]} {first[0]}", f"{first[0]}, {first[1]}", f"{first[1]}{first[0]}"]
    return forms + [c for c in components if len(c) >= 2]


def known_names(names: Iterable[str], reading: Callable[[str], str] | None = None) -> list[KnownName]:
    """Every spelling of the given PN strings to replace, longest first.

    Parameters
    ----------
    names : iterable of str
        DICOM PN strings (or plain names).
    reading : callable, optional
        Kanji -> katakana reading (Sudachi's), used when a PN has no phonetic group.

    Returns
    -------
    list of KnownName
    """
    found: dict[str, KnownName] = {}
    for pn in names:
        if not str(pn).strip():
            continue
        alphabetic, ideographic, phonetic = _groups(str(pn))
        if not phonetic and ideographic and reading is not None:
            phonetic = [to_hiragana(reading(part)) for part in ideographic]
            phonetic = [p for p in phonetic if p and all("ぁ" <= c <= "ゖ" or c == "ー" for c in p)]
        for text in _forms(ideographic, spaced=False):
            found.setdefault(text, KnownName(text))
        for kana in (phonetic, [to_katakana(p) for p in phonetic]):
            for text in _forms(kana, spaced=False):
                found.setdefault(text, KnownName(text))
        romaji_parts = [sorted(romaji_variants(p)) for p in phonetic] + [[a.lower()] for a in alphabetic]
        spellings = [[p.lower() for p in alphabetic]] if alphabetic else []
        if phonetic:
            spellings += [
                list(combo)
                for combo in itertools.islice(
                    itertools.product(*[sorted(romaji_variants(p)) for p in phonetic[:2]]), 64
                )
            ]
        for components in spellings:
            for text in _forms(components, spaced=True):
                found.setdefault(text, KnownName(text, ignore_case=True))
        for parts in romaji_parts:
            for text in parts:
                if len(text) >= 3:
                    found.setdefault(text, KnownName(text, ignore_case=True))
    return sorted(found.values(), key=lambda n: len(n.text), reverse=True)
