"""Redaction: identifiers replaced by placeholders before text leaves the machine, restored in the answer.

What is replaced (rules, not a model: predictable and auditable; it lowers risk, it does not guarantee
anonymity):

- the patient's names, given explicitly (``meta.json`` ``patient_name``, the archive's PatientName in any of
  its alphabetic/ideographic/phonetic groups), and any name before an honorific (``山田様``, ``佐藤さん``);
- the patient ID, long hexadecimal IDs, and labelled numbers (``患者ID: 123456``, ``カルテ番号 ...``);
- Japanese phone numbers (``03-1234-5678``, ``090-1234-5678``, ``0312345678``);
- addresses: a prefecture followed by a municipality (``東京都千代田区丸の内1-1``).

Placeholders look like ``[氏名1]``, ``[ID1]``, ``[電話1]``, ``[住所1]``; the same value always gets the same
placeholder, so the model can still refer to it, and :meth:`Redactor.restore` puts the values back.
Whether redaction was on is recorded with every generation in the history.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from enum import StrEnum

logger = logging.getLogger(__name__)


class IdentifierKind(StrEnum):
    """What a placeholder stands for (its label in the placeholder)."""

    NAME = "氏名"
    ID = "ID"
    PHONE = "電話"
    ADDRESS = "住所"


_PHONE_RE = re.compile(r"(?<![\d.])(?:0\d{1,4}[-‐－ー]\d{1,4}[-‐－ー]\d{3,4}|0[5789]0\d{8}|0\d{9})(?![\d.])")
_HEX_ID_RE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{16,}(?![0-9A-Za-z])")
_LABELLED_ID_RE = re.compile(
    r"(?:患者ID|患者番号|カルテ番号|診察券番号|ID)\s*[:：]?\s*([A-Za-z0-9][A-Za-z0-9-]{3,})"
)
_ADDRESS_RE = re.compile(
    r"(?:北海道|東京都|京都府|大阪府|(?:青森|岩手|宮城|秋田|山形|福島|茨城|栃木|群馬|埼玉|千葉|神奈川|新潟|富山|石川|福井|"
    r"山梨|長野|岐阜|静岡|愛知|三重|滋賀|兵庫|奈良|和歌山|鳥取|島根|岡山|広島|山口|徳島|香川|愛媛|高知|福岡|佐賀|長崎|熊本|"
    r"大分|宮崎|鹿児島|沖縄)県)[^\s、。,，()（）「」]{1,8}?[市区町村郡][^\s、。,，()（）「」]{0,24}"
)
_HONORIFIC_RE = re.compile(
    r"([一-龥々ァ-ヶー]{1,4}(?:[ 　][一-龥々ァ-ヶー]{1,4})?)(?=様|さん|氏|くん|ちゃん)"
)
_NOT_NAMES = {
    "患者",
    "家族",
    "本人",
    "奥",
    "娘",
    "息子",
    "妻",
    "夫",
    "母",
    "父",
    "兄",
    "弟",
    "姉",
    "妹",
    "孫",
    "皆",
    "看護師",
    "医師",
    "先生",
    "お母",
    "お父",
    "お子",
    "子",
    "嫁",
    "主治医",
    "担当",
    "ご家族",
    "ご本人",
    "患者様",
}


class Redactor:
    """Replaces identifiers by placeholders and back.

    Parameters
    ----------
    names : iterable of str
        Names to replace wherever they appear (DICOM PN strings are split into their parts).
    ids : iterable of str
        IDs to replace wherever they appear (e.g. the patient ID).
    """

    def __init__(self, names: Iterable[str] = (), ids: Iterable[str] = ()) -> None:
        self._forward: dict[str, str] = {}
        self._backward: dict[str, str] = {}
        self._counts: dict[IdentifierKind, int] = dict.fromkeys(IdentifierKind, 0)
        self._names = sorted({part for name in names for part in _name_parts(name)}, key=len, reverse=True)
        self._ids = sorted({i for i in ids if i}, key=len, reverse=True)

    def _placeholder(self, kind: IdentifierKind, value: str) -> str:
        if value not in self._forward:
            self._counts[kind] += 1
            placeholder = f"[{kind.value}{self._counts[kind]}]"
            self._forward[value] = placeholder
            self._backward[placeholder] = value
        return self._forward[value]

    def redact(self, text: str) -> str:
        """Replace every identifier found in ``text``."""
        for kind, values in ((IdentifierKind.ID, self._ids), (IdentifierKind.NAME, self._names)):
            for value in values:
                if value in text:
                    text = text.replace(value, self._placeholder(kind, value))
        text = _LABELLED_ID_RE.sub(
            lambda m: m.group(0).replace(m.group(1), self._placeholder(IdentifierKind.ID, m.group(1))), text
        )
        text = _HEX_ID_RE.sub(lambda m: self._placeholder(IdentifierKind.ID, m.group(0)), text)
        text = _PHONE_RE.sub(lambda m: self._placeholder(IdentifierKind.PHONE, m.group(0)), text)
        text = _ADDRESS_RE.sub(lambda m: self._placeholder(IdentifierKind.ADDRESS, m.group(0)), text)
        text = _HONORIFIC_RE.sub(
            lambda m: (
                m.group(0)
                if m.group(1) in _NOT_NAMES or m.group(1).startswith("[")
                else self._placeholder(IdentifierKind.NAME, m.group(1))
            ),
            text,
        )
        return text

    def restore(self, text: str) -> str:
        """Put the original values back in place of the placeholders in ``text``."""
        if not self._backward:
            return text
        pattern = re.compile("|".join(re.escape(p) for p in sorted(self._backward, key=len, reverse=True)))
        return pattern.sub(lambda m: self._backward[m.group(0)], text)

    @property
    def replacements(self) -> dict[str, str]:
        """Placeholder -> original value, for what has been redacted so far."""
        return dict(self._backward)


def _name_parts(name: str) -> list[str]:
    """The strings to replace for one DICOM PN (``YAMADA^TARO=山田^太郎=やまだ^たろう``).

    Full names with and without a space, and each part of two or more characters.
    """
    parts: list[str] = []
    for group in str(name).split("="):
        components = [c.strip() for c in group.split("^") if c.strip()]
        if not components:
            continue
        parts += [" ".join(components[:2]), "".join(components[:2]), "　".join(components[:2])]
        parts += [c for c in components if len(c) >= 2]
    return [p for p in parts if p.strip()]
