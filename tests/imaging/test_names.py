"""Person names: splitting, garble detection, ISO 2022 decoding; every pydicom charset file via Orthanc."""

from __future__ import annotations

import pytest

from workbench.imaging.names import (
    decode_raw_name,
    looks_garbled,
    parse_charsets,
    split_person_name,
)
from workbench.imaging.orthanc import OrthancArchive

JAPANESE = ("chrH31", "chrH32", "chrJapMulti", "chrJapMultiExplicitIR6")


def test_split_person_name() -> None:
    assert split_person_name("Yamada^Tarou=山田^太郎=やまだ^たろう") == (
        "Yamada^Tarou",
        "山田^太郎",
        "やまだ^たろう",
    )
    assert split_person_name("=山田^太郎") == ("", "山田^太郎", "")
    assert split_person_name("Buc^Jérôme") == ("Buc^Jérôme", "", "")
    assert split_person_name(None) == ("", "", "")


@pytest.mark.parametrize(
    ("value", "garbled"),
    [
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", False),
        ("ﾔﾏﾀﾞ^ﾀﾛｳ=;3ED^B@O:=$d$^$@^$?$m$&", True),  # what Orthanc makes of chrH32
        ("$B$d$^$@(B^$B$?$m$&(B", True),  # chrJapMultiExplicitIR6
        ("Buc^Jérôme", False),
        ("Wang^XiaoDong=王^小東=", False),
        ("Smith^John", False),
        ("", False),
    ],
)
def test_looks_garbled(value: str, garbled: bool) -> None:
    assert looks_garbled(value) is garbled


def test_decode_raw_name_iso2022() -> None:
    raw = (
        b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J=\x1b$B$d$^$@\x1b(J^"
        b"\x1b$B$?$m$&\x1b(J"
    )
    charsets = parse_charsets(b"ISO 2022 IR 13\\ISO 2022 IR 87 ")
    assert charsets == ["ISO 2022 IR 13", "ISO 2022 IR 87"]
    assert decode_raw_name(raw, charsets) == "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"
    assert parse_charsets(b"\\ISO 2022 IR 87") == ["", "ISO 2022 IR 87"]


def test_every_charset_file_has_the_right_name_columns(
    archive: OrthancArchive, charset_patients: dict[str, str]
) -> None:
    patients = archive.patients(patient_id="IMG-CHR-*").set_index("patient_id")
    studies = archive.studies(patient_id="IMG-CHR-*").set_index("patient_id")
    assert set(patients.index) == set(charset_patients)
    for table in (patients, studies):
        for patient_id, expected in charset_patients.items():
            alphabetic, ideographic, phonetic = split_person_name(expected)
            row = table.loc[patient_id]
            assert row.patient_name == expected, patient_id
            assert (row.patient_name_alphabetic, row.patient_name_ideographic, row.patient_name_phonetic) == (
                alphabetic,
                ideographic,
                phonetic,
            ), patient_id
    for name in JAPANESE:
        assert "やまだ^たろう" in patients.loc[f"IMG-CHR-{name}"].patient_name
    assert patients.loc["IMG-CHR-chrH32"].patient_name_ideographic == "山田^太郎"
    assert patients.loc["IMG-CHR-chrH32"].patient_name_alphabetic == "ﾔﾏﾀﾞ^ﾀﾛｳ"
