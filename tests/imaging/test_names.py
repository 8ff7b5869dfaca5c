"""Person names: splitting, garble detection, ISO 2022 decoding; every pydicom charset file via Orthanc."""

from __future__ import annotations

import pytest

from workbench.imaging import orthanc as orthanc_module
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.names import (
    decode_raw_name,
    looks_garbled,
    orthanc_garbled_form,
    parse_charsets,
    repair_names,
    split_person_name,
)
from workbench.imaging.orthanc import OrthancArchive
from workbench.testing.synthetic import tiny_study

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


@pytest.mark.orthanc
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


@pytest.mark.parametrize(
    ("text", "garbled"),
    [
        ("*山田*", "*;3ED*"),
        ("*山田^太郎*", "*;3ED*^*B@O:*"),  # ISO 2022 IR 6 first keeps $B / (B around each run
        ("山田?", "*;3ED*?"),
        ("*やまだ*", "*$d$^$@*"),
        ("ﾔﾏﾀﾞ*", None),  # half-width katakana: Orthanc decodes ISO 2022 IR 13 right
        ("Yamada*", None),  # nothing to garble
        ("*王^小东*", None),  # simplified Chinese: not in JIS X 0208, no Japanese file holds it
    ],
)
def test_orthanc_garbled_form(text: str, garbled: str | None) -> None:
    assert orthanc_garbled_form(text) == garbled


@pytest.mark.orthanc
def test_kanji_and_kana_search_finds_names_orthanc_holds_garbled(
    orthanc: LocalOrthanc,
    archive: OrthancArchive,
    charset_patients: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """chrH32 (ISO 2022 IR 13\\ISO 2022 IR 87) and chrJapMultiExplicitIR6 are indexed garbled by Orthanc."""
    fred = tiny_study(92_000, patient_id="IMG-GARB-FRED")
    fred.PatientName = "Fred^Ted"  # "ED" is the garbled form of 田: must not come back for *田*
    orthanc.client().upload([fred], progress=False)
    kanji = {f"IMG-CHR-{n}" for n in JAPANESE if "山田" in charset_patients[f"IMG-CHR-{n}"]}
    assert "IMG-CHR-chrH32" in kanji
    for pattern in ("*山田*", "*田*"):
        found = archive.patients(patient_name=pattern, patient_id="IMG-CHR-*")
        assert set(found.patient_id) == kanji, pattern
    assert set(archive.studies(patient_name="*山田^太郎*", patient_id="IMG-CHR-*").patient_id) == kanji
    assert set(archive.series(patient_name="*山田*", patient_id="IMG-CHR-*").patient_id) == kanji
    kana = set(archive.patients(patient_name="*やまだ^たろう*", patient_id="IMG-CHR-*").patient_id)
    assert kana == {f"IMG-CHR-{n}" for n in JAPANESE}
    assert archive.patients(patient_name="*田*", patient_id="IMG-GARB-*").empty
    assert set(archive.patients(patient_name="*ED*", patient_id="IMG-GARB-*").patient_id) == {"IMG-GARB-FRED"}
    assert len(archive.studies(patient_name="*山田*", patient_id="IMG-CHR-*", limit=1)) == 1
    by_uid_list = archive.studies(patient_name="*山田*", patient_id="IMG-CHR-*").set_index("study_uid")
    assert (by_uid_list.modalities != "").all()
    monkeypatch.setattr(orthanc_module, "UID_LIST_MAX", 0)  # modalities found by repeating the filters
    by_filters = OrthancArchive(orthanc.client()).studies(patient_name="*山田*", patient_id="IMG-CHR-*")
    assert by_filters.set_index("study_uid").modalities.to_dict() == by_uid_list.modalities.to_dict()


def test_repair_names_reads_each_garbled_name_once_and_keeps_the_others() -> None:
    garbled = ";3ED^B@O:=;3ED^B@O:"  # how Orthanc 1.10 shows 山田^太郎 under ISO 2022 IR 87
    rows = [("P1", garbled), ("P1", garbled), ("P2", "SATO^HANAKO"), ("P3", garbled)]
    reads: list[str] = []

    def read(row: tuple[str, str]) -> str | None:
        reads.append(row[0])
        return "Yamada^Taro=山田^太郎" if row[0] == "P1" else None  # P3: no stored file to read

    names = repair_names(rows, lambda row: row, read)
    assert reads == ["P1", "P3"]
    assert names == {("P1", garbled): "Yamada^Taro=山田^太郎", ("P2", "SATO^HANAKO"): "SATO^HANAKO",
                     ("P3", garbled): garbled}


@pytest.fixture(scope="session")
def shared_patient_id(orthanc: LocalOrthanc) -> dict[str, str]:
    """One patient ID, three studies: a UTF-8 name stored first, then chrH32 and chrJapMultiExplicitIR6.

    Returns study UID -> the name pydicom decodes from that study's file.
    """
    import io

    import pydicom
    from pydicom.data import get_charset_files

    from tests.imaging.stored import to_bytes, with_new_uids

    first = tiny_study(94_000, patient_id="IMG-SHARED")
    first.PatientName = "Sato^Hanako=佐藤^花子=さとう^はなこ"
    orthanc.client().upload([first], progress=False)  # the patient's tags in Orthanc come from this one
    expected = {str(first.StudyInstanceUID): str(first.PatientName)}
    for name in ("chrH32", "chrJapMultiExplicitIR6"):
        ds = pydicom.dcmread(get_charset_files(f"{name}.dcm")[0])
        data = to_bytes(with_new_uids(ds, f"shared-{name}", patient_id="IMG-SHARED"))
        orthanc.client().upload([data], progress=False)
        stored = pydicom.dcmread(io.BytesIO(data))
        expected[str(stored.StudyInstanceUID)] = str(stored.PatientName)
    return expected


def _shared_checks(archive: object, expected: dict[str, str]) -> None:
    kanji = {uid for uid, name in expected.items() if "山田" in name}
    kana = {uid for uid, name in expected.items() if "やまだ^たろう" in name}
    assert len(kanji) == 1 and len(kana) == 2
    table = archive.studies(patient_id="IMG-SHARED").set_index("study_uid")  # type: ignore[attr-defined]
    assert table.patient_name.to_dict() == expected  # each study named from its own file
    for pattern, uids in [
        ("*山田*", kanji),
        ("山田", kanji),
        ("山田^太郎", kanji),
        ("やまだ", kana),
        ("*やまだ^たろう*", kana),
        ("たろう やまだ", kana),
    ]:
        found = archive.studies(patient_name=pattern, patient_id="IMG-SHARED")  # type: ignore[attr-defined]
        assert set(found.study_uid) == uids, pattern
        assert {expected[uid] for uid in found.study_uid} == set(found.patient_name), pattern
    sato = archive.studies(patient_name="佐藤", patient_id="IMG-SHARED")  # type: ignore[attr-defined]
    assert set(sato.study_uid) == set(expected) - kana
    assert archive.patients(patient_name="山田").patient_id.tolist().count("IMG-SHARED") == 1  # type: ignore[attr-defined]


@pytest.mark.orthanc
def test_garbled_names_found_and_named_per_study(
    archive: OrthancArchive, shared_patient_id: dict[str, str]
) -> None:
    """#15.2: a study stored IR 13\\IR 87 (or IR 6\\IR 87) under a patient ID first stored UTF-8."""
    _shared_checks(archive, shared_patient_id)
    series = archive.series(patient_name="山田", patient_id="IMG-SHARED")
    assert set(series.study_uid) == {uid for uid, name in shared_patient_id.items() if "山田" in name}


@pytest.mark.orthanc
def test_garbled_names_per_study_over_dicomweb(
    orthanc: LocalOrthanc, shared_patient_id: dict[str, str]
) -> None:
    from workbench.imaging import connect

    dicomweb = connect(f"{orthanc.url}/dicom-web", orthanc.username, orthanc.password, kind="dicomweb")
    _shared_checks(dicomweb, shared_patient_id)
