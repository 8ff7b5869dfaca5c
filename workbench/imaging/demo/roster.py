"""The demo hospital's inpatients: who they are, when they were admitted, and what imaging they had.

Everything here is invented. Patient IDs are pseudonymous SHA-256 hex strings (as a data warehouse would
export them); the discharge-summary corpus in ``eval/cases/`` uses the same IDs for the cases that have
imaging, so that ``$(imaging)`` in a prompt finds their studies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import StrEnum


class CTFinding(StrEnum):
    """What a synthetic chest CT shows."""

    NORMAL = "normal"
    PNEUMONIA = "pneumonia"  # ground-glass opacities


class Charset(StrEnum):
    """Specific Character Set used to encode a patient's Japanese name."""

    ISO_2022_IR_87 = "\\ISO 2022 IR 87"  # JIS X 0208 via ISO 2022 escape sequences
    ISO_IR_192 = "ISO_IR 192"  # UTF-8


def pseudonymous_id(number: int) -> str:
    """The demo patient ID of inpatient ``number``: an upper-case SHA-256 hex string of 64 characters."""
    return hashlib.sha256(f"workbench-demo-patient-{number:02d}".encode()).hexdigest().upper()


@dataclass(frozen=True)
class DemoPatient:
    """One inpatient of the demo hospital.

    ``name`` is a DICOM PN with alphabetic, ideographic and phonetic groups
    (``YAMADA^TARO=山田^太郎=やまだ^たろう``).
    """

    number: int
    name: str
    sex: str
    birth_date: dt.date
    admission_date: dt.date
    discharge_date: dt.date
    department: str
    diagnosis: str
    charset: Charset
    ct: CTFinding | None = None
    chest_xray: bool = False
    mr_brain: bool = False

    @property
    def patient_id(self) -> str:
        """Pseudonymous patient ID (64 hex characters)."""
        return pseudonymous_id(self.number)


_D = dt.date
_IR87, _UTF8 = Charset.ISO_2022_IR_87, Charset.ISO_IR_192
_PN, _N = CTFinding.PNEUMONIA, CTFinding.NORMAL

ROSTER: tuple[DemoPatient, ...] = (
    DemoPatient(
        1,
        "YAMADA^TARO=山田^太郎=やまだ^たろう",
        "M",
        _D(1948, 3, 12),
        _D(2023, 7, 25),
        _D(2023, 8, 10),
        "respiratory",
        "急性肺炎",
        _IR87,
        ct=_PN,
        chest_xray=True,
    ),
    DemoPatient(
        2,
        "SATO^HANAKO=佐藤^花子=さとう^はなこ",
        "F",
        _D(1955, 6, 2),
        _D(2023, 9, 4),
        _D(2023, 9, 15),
        "cardiology",
        "うっ血性心不全",
        _UTF8,
        ct=_N,
        chest_xray=True,
    ),
    DemoPatient(
        3,
        "SUZUKI^ICHIRO=鈴木^一郎=すずき^いちろう",
        "M",
        _D(1960, 11, 20),
        _D(2023, 10, 2),
        _D(2023, 10, 14),
        "infectious",
        "市中肺炎",
        _IR87,
        ct=_PN,
    ),
    DemoPatient(
        4,
        "TAKAHASHI^MIKI=高橋^美紀=たかはし^みき",
        "F",
        _D(1972, 1, 8),
        _D(2023, 11, 6),
        _D(2023, 11, 13),
        "neurology",
        "脳梗塞",
        _UTF8,
        mr_brain=True,
    ),
    DemoPatient(
        5,
        "TANAKA^KENJI=田中^健二=たなか^けんじ",
        "M",
        _D(1951, 8, 30),
        _D(2024, 1, 15),
        _D(2024, 1, 29),
        "respiratory",
        "COVID-19肺炎",
        _IR87,
        ct=_PN,
        chest_xray=True,
    ),
    DemoPatient(
        6,
        "WATANABE^YUKO=渡辺^裕子=わたなべ^ゆうこ",
        "F",
        _D(1980, 4, 17),
        _D(2024, 2, 5),
        _D(2024, 2, 12),
        "gastroenterology",
        "急性胆嚢炎",
        _UTF8,
        ct=_N,
    ),
    DemoPatient(
        7,
        "ITO^HIROSHI=伊藤^博=いとう^ひろし",
        "M",
        _D(1945, 12, 1),
        _D(2024, 3, 4),
        _D(2024, 3, 20),
        "geriatrics",
        "誤嚥性肺炎",
        _IR87,
        ct=_PN,
        chest_xray=True,
    ),
    DemoPatient(
        8,
        "NAKAMURA^SACHIKO=中村^幸子=なかむら^さちこ",
        "F",
        _D(1958, 9, 9),
        _D(2024, 4, 8),
        _D(2024, 4, 19),
        "oncology",
        "肺腺癌（化学療法目的）",
        _UTF8,
        ct=_N,
    ),
    DemoPatient(
        9,
        "KOBAYASHI^MAKOTO=小林^誠=こばやし^まこと",
        "M",
        _D(1966, 2, 14),
        _D(2024, 5, 13),
        _D(2024, 5, 22),
        "nephrology",
        "慢性腎臓病の急性増悪",
        _IR87,
        ct=_N,
    ),
    DemoPatient(
        10,
        "KATO^MEGUMI=加藤^恵=かとう^めぐみ",
        "F",
        _D(1990, 7, 3),
        _D(2024, 6, 3),
        _D(2024, 6, 10),
        "endocrinology",
        "糖尿病性ケトアシドーシス",
        _UTF8,
        chest_xray=True,
    ),
    DemoPatient(
        11,
        "YOSHIDA^OSAMU=吉田^修=よしだ^おさむ",
        "M",
        _D(1953, 5, 25),
        _D(2024, 7, 1),
        _D(2024, 7, 15),
        "orthopedics",
        "大腿骨頸部骨折",
        _IR87,
        chest_xray=True,
    ),
    DemoPatient(
        12,
        "YAMAGUCHI^AKIKO=山口^明子=やまぐち^あきこ",
        "F",
        _D(1968, 10, 30),
        _D(2024, 8, 19),
        _D(2024, 8, 30),
        "neurology",
        "症候性てんかん",
        _UTF8,
        mr_brain=True,
    ),
)
"""The twelve inpatients, in order of admission."""


def by_patient_id(patient_id: str) -> DemoPatient:
    """Find a demo inpatient by pseudonymous ID.

    Raises
    ------
    KeyError
        If no demo inpatient has that ID.
    """
    for patient in ROSTER:
        if patient.patient_id == patient_id:
            return patient
    raise KeyError(patient_id)
