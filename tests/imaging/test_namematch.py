"""Names as typed (#16.1): the rule, and the same answers from both archive kinds on demo-like names."""

from __future__ import annotations

import pytest

from workbench.imaging import connect
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.namematch import name_matches, name_pattern
from workbench.imaging.orthanc import OrthancArchive
from workbench.testing.synthetic import tiny_study

TARO = "YAMADA^TARO=山田^太郎=やまだ^たろう"
HANAKO = "YAMAMOTO^HANAKO=山本^花子=やまもと^はなこ"
ICHIRO = "Tanaka^Ichiro=田中^一郎=たなか^いちろう"


@pytest.mark.parametrize(
    ("typed", "name", "expected"),
    [
        ("山田", TARO, True),
        ("山田^太郎", TARO, True),
        ("山田 太郎", TARO, True),
        ("太郎　山田", TARO, True),  # a full-width space, reversed
        ("やまだ", TARO, True),
        ("yamada", TARO, True),
        ("YAMADA", TARO, True),
        ("taro yamada", TARO, True),
        ("山田 たろう", TARO, False),  # words from two groups
        ("山田花子", TARO, False),
        ("山田", HANAKO, False),
        ("*山田*", TARO, True),
        ("山田*", TARO, True),  # a wildcard pattern may match one group
        ("山*", HANAKO, True),
        ("?田^太郎", TARO, True),
        ("Y*", ICHIRO, False),
        ("*たろう", TARO, True),
        ("YAMADA^TARO=山田", TARO, True),
        ("", TARO, True),
        ("山田", None, False),
    ],
)
def test_name_matches(typed: str, name: str | None, expected: bool) -> None:
    assert name_matches(typed, name) is expected


def test_server_patterns_are_wider_than_the_rule() -> None:
    assert name_pattern("山田").server == "*山田*" and name_pattern("山田").exact_on_server
    two_words = name_pattern("taro yamada")
    assert two_words.server == "*yamada*" and not two_words.exact_on_server
    assert name_pattern("山田*").server == "*山田*" and not name_pattern("山田*").exact_on_server
    assert name_pattern("*山田*").exact_on_server


@pytest.fixture(scope="session")
def demo_like_names(orthanc: LocalOrthanc) -> dict[str, str]:
    """Three patients named as the demo's, each name stored \\ISO 2022 IR 87 and UTF-8; uid -> name."""
    stored = {}
    for k, (name, patient_id) in enumerate([(TARO, "NM-TARO"), (HANAKO, "NM-HANAKO"), (ICHIRO, "NM-ICHIRO")]):
        for j, charset in enumerate(["\\ISO 2022 IR 87", "ISO_IR 192"]):
            ds = tiny_study(99_000 + 2 * k + j, patient_id=patient_id)
            ds.SpecificCharacterSet = charset
            ds.PatientName = name
            stored[str(ds.StudyInstanceUID)] = name
            orthanc.client().upload([ds], progress=False)
    return stored


@pytest.mark.orthanc
@pytest.mark.parametrize("kind", ["orthanc", "dicomweb"])
@pytest.mark.parametrize(
    ("typed", "names"),
    [
        ("山田", {TARO}),
        ("山田*", {TARO}),
        ("山田^太郎", {TARO}),
        ("山田 太郎", {TARO}),
        ("やまだ", {TARO}),
        ("yamada", {TARO}),
        ("YAMADA", {TARO}),
        ("Yamada^Taro", {TARO}),
        ("山", {TARO, HANAKO}),
        ("山*", {TARO, HANAKO}),
        ("*田*", {TARO, ICHIRO}),
        ("田", {TARO, ICHIRO}),
        ("ichiro", {ICHIRO}),
        ("山田花子", set()),
    ],
)
def test_names_as_typed_on_both_archives(
    orthanc: LocalOrthanc, demo_like_names: dict[str, str], kind: str, typed: str, names: set[str]
) -> None:
    url = orthanc.url + ("/dicom-web" if kind == "dicomweb" else "")
    archive = connect(url, orthanc.username, orthanc.password, kind=kind)
    found = archive.studies(patient_name=typed, patient_id="NM-*")
    assert set(found.patient_name) == names
    assert len(found) == 2 * len(names)  # both character sets
    patients = archive.patients(patient_name=typed, patient_id="NM-*")
    assert set(patients.patient_name) == names
    if isinstance(archive, OrthancArchive):
        assert len(archive.series(patient_name=typed, patient_id="NM-*")) == 2 * len(names)
