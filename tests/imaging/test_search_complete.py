"""Every search returns every match (#15.1): no paging loss, no silent server cap, on both archive kinds.

Orthanc 1.10.1 pages ``ModalitiesInStudy`` wrongly (every page after the first is empty; over QIDO-RS the
same page comes back for ever) and silently cuts answers at its ``LimitFindResults``/``LimitFindInstances``
+ 1. The capped server here allows 5 answers, so each filter below has more matches than one answer holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.imaging import connect
from workbench.imaging.dicomweb import DicomWebArchive
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.orthanc import OrthancArchive
from workbench.testing.synthetic import tiny_study

pytestmark = pytest.mark.orthanc

CAP = 5
N_CT = 12
"""Studies per filter value: more than the cap (5 + 1 answers) and than two pages of 5."""


def _studies(base: int, prefix: str) -> list:
    """14 one-image studies: 12 CT + 2 MR; 9 named Suzuki, 10 dated January 2020, 11 of patient A."""
    datasets = []
    for i in range(N_CT + 2):
        ds = tiny_study(base + i, patient_id=f"{prefix}-A" if i < 11 else f"{prefix}-B{i}", modality="CT")
        if i >= N_CT:
            ds.Modality = "MR"
        ds.PatientName = "Suzuki^Ichiro=鈴木^一郎=すずき^いちろう" if i < 9 else f"Other^Person{i}"
        ds.StudyDate = f"202001{i + 1:02d}" if i < 10 else "20210301"
        datasets.append(ds)
    return datasets


@pytest.fixture(scope="session")
def capped_orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalOrthanc]:
    """A second Orthanc answering at most 5 (+1) resources per find, holding only this module's studies."""
    limits = {"LimitFindResults": CAP, "LimitFindInstances": CAP}
    with LocalOrthanc(tmp_path_factory.mktemp("capped"), extra_config=limits) as server:
        server.client().upload(_studies(95_000, "CAP"), progress=False)
        yield server


@pytest.fixture
def capped_archive(capped_orthanc: LocalOrthanc) -> OrthancArchive:
    archive = connect(capped_orthanc.url, capped_orthanc.username, capped_orthanc.password)
    assert isinstance(archive, OrthancArchive)
    return archive


def test_the_server_really_caps(capped_orthanc: LocalOrthanc) -> None:
    body = {"Level": "Study", "Query": {"PatientID": "CAP-*"}}
    answer = capped_orthanc.client().post_json("/tools/find", body)
    assert len(answer) == CAP + 1  # what a plain /tools/find gives: 6 of 14, and no sign of it


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"modality": "CT"}, N_CT),
        ({"modality": ["CT", "MR"]}, N_CT + 2),
        ({"patient_name": "*鈴木*"}, 9),
        ({"patient_name": "suzuki*"}, 9),
        ({"study_date": ("2020-01-01", "2020-01-31")}, 10),
        ({"patient_id": "CAP-A"}, 11),
        ({"patient_id": "CAP-*"}, N_CT + 2),
        ({"patient_id": "CAP-*", "modality": "CT", "study_date": "20200101-20200131"}, 10),
    ],
)
def test_capped_server_searches_return_every_study(
    capped_archive: OrthancArchive, filters: dict, expected: int
) -> None:
    table = capped_archive.studies(**filters)
    assert len(table) == expected and table.study_uid.is_unique
    assert len(capped_archive.studies(**filters, limit=7)) == 7


def test_capped_server_other_levels(capped_archive: OrthancArchive) -> None:
    assert len(capped_archive.series(modality="CT")) == N_CT
    assert len(capped_archive.series(patient_name="すずき")) == 9
    assert len(capped_archive.patients(patient_id="CAP-*")) == 4
    assert capped_archive.finder.caps == {"LimitFindResults": CAP}
    assert len(capped_archive.find(capped_archive_query("Instance", {"PatientID": "CAP-*"}))) == N_CT + 2
    assert capped_archive.finder.caps == {"LimitFindResults": CAP, "LimitFindInstances": CAP}


def test_an_answer_under_the_cap_costs_one_small_probe(capped_orthanc: LocalOrthanc) -> None:
    """3 answers on a server capped at 5: one find skipping 3 patients proves it whole; nothing is listed."""
    archive = connect(capped_orthanc.url, capped_orthanc.username, capped_orthanc.password)
    assert isinstance(archive, OrthancArchive)
    sent: list[dict] = []
    post_json = archive.client.post_json

    def recording(path: str, body: dict, **kwargs: object) -> object:
        sent.append(body)
        return post_json(path, body, **kwargs)

    archive.client.post_json = recording  # type: ignore[method-assign]
    table = archive.studies(patient_id="CAP-B*")
    assert sorted(table.patient_id) == ["CAP-B11", "CAP-B12", "CAP-B13"]
    probes = [body for body in sent if body.get("Query") == {}]
    # 4 patients, 14 studies and series: the patients are the fewest resources beyond the 3 answered
    assert probes == [{"Level": "Patient", "Query": {}, "Expand": False, "Since": 3, "Limit": 1}]
    assert not archive.finder.caps
    archive.studies(patient_id="CAP-B1*")  # a smaller answer on the same connection: no probe again
    assert len([body for body in sent if body.get("Query") == {}]) == 1


def test_dicomweb_modality_search_pages_without_looping(orthanc: LocalOrthanc) -> None:
    """Orthanc ignores QIDO offset with ModalitiesInStudy: paging by it returned the same studies for ever."""
    orthanc.client().upload(_studies(98_000, "IMG-QIDOMOD"), progress=False)
    url = f"{orthanc.url}/dicom-web"
    dicomweb = DicomWebArchive(url, orthanc.username, orthanc.password, page_size=CAP)
    assert len(dicomweb.studies(patient_id="IMG-QIDOMOD-A", modality="CT")) == 11
    assert len(dicomweb.studies(patient_id="IMG-QIDOMOD-*", modality=["CT", "MR"])) == N_CT + 2
    assert len(dicomweb.studies(patient_id="IMG-QIDOMOD-*", study_date="20200101-20200131")) == 10
    assert len(dicomweb.studies(patient_id="IMG-QIDOMOD-*", patient_name="suzuki")) == 9
    assert len(dicomweb.series(patient_id="IMG-QIDOMOD-*", modality="CT")) == N_CT


def capped_archive_query(level: str, tags: dict):
    from workbench.imaging.query import Level, Query

    return Query(Level(level), tags)


def test_modality_search_beyond_one_page(orthanc: LocalOrthanc) -> None:
    """Orthanc answers nothing after the first page of a ModalitiesInStudy search: it is never paged."""
    orthanc.client().upload(_studies(96_000, "IMG-PAGEMOD"), progress=False)
    archive = OrthancArchive(orthanc.client(), page_size=CAP)
    assert len(archive.studies(patient_id="IMG-PAGEMOD-*", modality="CT")) == N_CT
    assert len(archive.studies(patient_id="IMG-PAGEMOD-*", modality="CT", limit=7)) == 7
    assert not archive.finder.caps
    assert len(archive.studies(patient_id="IMG-PAGEMOD-*", study_date="20200101-20200131")) == 10
    assert len(archive.series(patient_id="IMG-PAGEMOD-*", modality="CT")) == N_CT


def test_listing_fallback_matches_find(orthanc: LocalOrthanc, tmp_path: Path) -> None:
    """On an uncapped server, matching against the listings gives what /tools/find gives."""
    orthanc.client().upload(_studies(97_000, "IMG-LISTFB"), progress=False)
    archive = OrthancArchive(orthanc.client(), page_size=CAP)
    for level, tags in [
        ("Study", {"PatientID": "IMG-LISTFB-*", "ModalitiesInStudy": "CT"}),
        ("Study", {"PatientName": "SUZUKI*", "PatientID": "IMG-LISTFB-*"}),
        ("Series", {"PatientID": "IMG-LISTFB-A", "StudyDate": "20200101-20200105"}),
        ("Instance", {"PatientID": "IMG-LISTFB-*", "Modality": "MR"}),
        ("Patient", {"PatientID": "IMG-LISTFB-*"}),
    ]:
        query = capped_archive_query(level, tags)
        found = {item["ID"] for item in archive.find(query)}
        assert found and {item["ID"] for item in archive.finder.find_by_listing(query)} == found, tags


def test_modalities_column_of_studies_found_by_modality(orthanc: LocalOrthanc) -> None:
    """One-series studies found by one modality take it without a lookup; others are looked up."""
    from workbench.testing.synthetic import ct_series

    one = tiny_study(99_500, patient_id="IMG-MODCOL")
    two = ct_series(1, 4, 4, patient_id="IMG-MODCOL")
    pet = ct_series(1, 4, 4, patient_id="IMG-MODCOL", study_uid=str(two[0].StudyInstanceUID))
    pet[0].Modality = "PT"
    orthanc.client().upload([one, *two, *pet], progress=False)
    archive = OrthancArchive(orthanc.client())
    table = archive.studies(patient_id="IMG-MODCOL", modality="CT").set_index("study_uid")
    expected = {str(one.StudyInstanceUID): "CT", str(two[0].StudyInstanceUID): "CT\\PT"}
    assert table.modalities.to_dict() == expected
    assert set(archive.studies(patient_id="IMG-MODCOL", modality="PT").modalities) == {"CT\\PT"}
