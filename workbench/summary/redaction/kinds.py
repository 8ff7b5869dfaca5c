"""The identifier categories: what a placeholder stands for, and the HIPAA Safe Harbor item it covers."""

from __future__ import annotations

from enum import StrEnum


class IdentifierKind(StrEnum):
    """An identifier category. The value is the label of its placeholders (``[氏名1]``).

    The Presidio entity type of a category is its member name (``NAME``, ``PHONE`` ...).
    """

    NAME = "氏名"
    FACILITY = "施設"
    ADDRESS = "住所"
    POSTAL_CODE = "郵便番号"
    PHONE = "電話"
    EMAIL = "メール"
    URL = "URL"
    IP_ADDRESS = "IP"
    ID = "ID"
    INSURANCE = "保険番号"
    ACCOUNT = "口座"
    LICENSE = "免許"
    DEVICE = "機器番号"
    VEHICLE = "車両"
    BIRTH_DATE = "生年月日"
    AGE_OVER_89 = "年齢"
    DATE = "日付"

    @property
    def entity(self) -> str:
        """The Presidio entity type."""
        return self.name

    @classmethod
    def from_entity(cls, entity: str) -> IdentifierKind:
        """The category of a Presidio entity type."""
        return cls[entity]


_NOT_PLACEHOLDERS = (IdentifierKind.BIRTH_DATE, IdentifierKind.AGE_OVER_89, IdentifierKind.DATE)
PLACEHOLDER_KINDS = tuple(k for k in IdentifierKind if k not in _NOT_PLACEHOLDERS)
"""Categories replaced by a placeholder and put back by restore; birth dates become an age, ages over 89
become ``90歳以上`` and dates are shifted."""

SAFE_HARBOR: dict[str, tuple[IdentifierKind, ...]] = {
    "1 names": (IdentifierKind.NAME,),
    "2 geographic subdivisions smaller than a state": (IdentifierKind.ADDRESS, IdentifierKind.POSTAL_CODE),
    "3 dates (except year) and ages over 89": (
        IdentifierKind.DATE,
        IdentifierKind.BIRTH_DATE,
        IdentifierKind.AGE_OVER_89,
    ),
    "4 telephone numbers": (IdentifierKind.PHONE,),
    "5 fax numbers": (IdentifierKind.PHONE,),
    "6 e-mail addresses": (IdentifierKind.EMAIL,),
    "7 social security numbers": (IdentifierKind.ID,),
    "8 medical record numbers": (IdentifierKind.ID,),
    "9 health plan beneficiary numbers": (IdentifierKind.INSURANCE,),
    "10 account numbers": (IdentifierKind.ACCOUNT,),
    "11 certificate/license numbers": (IdentifierKind.LICENSE,),
    "12 vehicle identifiers": (IdentifierKind.VEHICLE,),
    "13 device identifiers and serial numbers": (IdentifierKind.DEVICE,),
    "14 web URLs": (IdentifierKind.URL,),
    "15 IP addresses": (IdentifierKind.IP_ADDRESS,),
    "16 biometric identifiers": (),
    "17 full-face photographs": (),
    "18 any other unique identifying number, characteristic or code": (
        IdentifierKind.ID,
        IdentifierKind.FACILITY,
    ),
}
"""HIPAA Safe Harbor (45 CFR 164.514(b)(2)) items and the categories that cover them in Japanese records.
Items 16 and 17 are out of scope: only text is sent to a model (see README)."""
