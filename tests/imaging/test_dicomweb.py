"""The plain DICOMweb archive, against Orthanc's /dicom-web (with its query-string quirk)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.imaging.stored import StoredSeries
from workbench.errors import ArchiveError, AuthenticationError, NotFoundError
from workbench.imaging import connect
from workbench.imaging.dicomweb import DicomWebArchive
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.orthanc import OrthancArchive

pytestmark = pytest.mark.orthanc


@pytest.fixture
def dicomweb(orthanc: LocalOrthanc) -> DicomWebArchive:
    archive = connect(f"{orthanc.url}/dicom-web", orthanc.username, orthanc.password, kind="dicomweb")
    assert isinstance(archive, DicomWebArchive)
    return archive


def test_kanji_wildcards_and_filters(
    dicomweb: DicomWebArchive, archive: OrthancArchive, synthetic_ct: StoredSeries, oblique_ct: StoredSeries
) -> None:
    # Orthanc 1.10.1 would find nothing for these if they were sent percent-encoded in the query string
    assert set(dicomweb.studies(patient_name="*山田^花子*").study_uid) == {synthetic_ct.study_uid}
    assert set(dicomweb.studies(patient_name="morita*").study_uid) == {oblique_ct.study_uid}
    uids = {synthetic_ct.study_uid, oblique_ct.study_uid}
    assert uids <= set(dicomweb.studies(modality=["CT", "MR"], study_date="20240101-20240131").study_uid)
    mine = dicomweb.studies(patient_id="IMG-CT-01")
    theirs = archive.studies(patient_id="IMG-CT-01")
    columns = [
        "study_uid",
        "patient_id",
        "patient_name",
        "patient_name_ideographic",
        "study_date",
        "study_description",
        "accession_number",
        "modalities",
        "n_series",
    ]
    assert mine[columns].equals(theirs[columns])
    assert dicomweb.patients(patient_name="*田^花*").patient_id.tolist() == ["IMG-CT-01"]
    series = dicomweb.series(study_uid=synthetic_ct.study_uid)
    assert series.series_uid.tolist() == [synthetic_ct.series_uid]
    assert series.n_instances.tolist() == [12]
    assert len(dicomweb.instances(series_uid=synthetic_ct.series_uid)) == 12


def test_garbled_japanese_names_fixed(dicomweb: DicomWebArchive, charset_patients: dict[str, str]) -> None:
    table = dicomweb.studies(patient_id="IMG-CHR-chrH32")
    assert table.patient_name.tolist() == [charset_patients["IMG-CHR-chrH32"]]
    assert table.patient_name_ideographic.tolist() == ["山田^太郎"]


def test_kanji_and_kana_search_finds_garbled_names(
    dicomweb: DicomWebArchive, archive: OrthancArchive, charset_patients: dict[str, str]
) -> None:
    """Names the server answers garbled are matched by their decoded form, as OrthancArchive does."""
    for pattern in ("*山田*", "*やまだ^たろう*", "*田*"):
        mine = set(dicomweb.patients(patient_name=pattern, patient_id="IMG-CHR-*").patient_id)
        assert mine == set(archive.patients(patient_name=pattern, patient_id="IMG-CHR-*").patient_id), pattern
        assert "IMG-CHR-chrH32" in mine
        assert all(pattern.strip("*") in charset_patients[p] for p in mine)


def test_load_series_same_as_orthanc(
    dicomweb: DicomWebArchive, archive: OrthancArchive, oblique_ct: StoredSeries
) -> None:
    mine = dicomweb.load_series(oblique_ct.series_uid, progress=False)
    theirs = archive.load_series(oblique_ct.series_uid, progress=False)
    np.testing.assert_array_equal(mine.array, theirs.array)
    np.testing.assert_allclose(mine.affine, theirs.affine)
    again = dicomweb.load_series(oblique_ct.series_uid, progress=False)  # from the cache
    np.testing.assert_array_equal(again.array, mine.array)


def test_errors(orthanc: LocalOrthanc, dicomweb: DicomWebArchive) -> None:
    with pytest.raises(NotFoundError, match=re.escape("series 1.2.3.999 not found on DICOMweb server")):
        dicomweb.load_series("1.2.3.999", progress=False)
    with pytest.raises(AuthenticationError, match="refused user 'workbench'"):
        connect(f"{orthanc.url}/dicom-web", orthanc.username, "wrong", kind="dicomweb")
    dead = DicomWebArchive("http://127.0.0.1:9/dicom-web", retries=0)
    with pytest.raises(
        ArchiveError, match=re.escape("cannot reach DICOMweb server http://127.0.0.1:9/dicom-web")
    ):
        dead.studies()


def test_store_with_stow(dicomweb: DicomWebArchive, archive: OrthancArchive) -> None:
    from workbench.testing.synthetic import ct_series

    datasets = ct_series(2, 4, 4, patient_id="IMG-STOW")
    results = dicomweb.store(datasets)
    assert [r.status for r in results] == ["Success", "Success"]
    assert archive.series(patient_id="IMG-STOW").n_instances.tolist() == [2]


def test_connect_dicomweb_to_orthancs_base_url_finds_its_dicomweb_root(
    orthanc: LocalOrthanc, demo_hospital: object
) -> None:
    from workbench.imaging import DicomWebArchive as Exported
    from workbench.imaging import OrthancArchive

    archive = connect(orthanc.url, orthanc.username, orthanc.password, kind="dicomweb", cache=False)
    assert isinstance(archive, Exported) and archive.url == f"{orthanc.url.rstrip('/')}/dicom-web"
    assert not isinstance(archive, OrthancArchive)
    assert (archive.studies(patient_name="YAMADA*").patient_name_ideographic == "山田^太郎").any()
    root = f"{orthanc.url}/dicom-web"
    rooted = connect(root, orthanc.username, orthanc.password, kind="dicomweb", cache=False)
    assert rooted.url == archive.url
