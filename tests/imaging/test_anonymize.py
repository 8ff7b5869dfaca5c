"""Anonymized export: Orthanc's /anonymize and the pydicom route."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from tests.imaging.stored import StoredSeries
from workbench.errors import NotFoundError
from workbench.imaging import connect
from workbench.imaging.anonymize import anonymize_study, remap_uid
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.orthanc import OrthancArchive

pytestmark = pytest.mark.orthanc


def check(paths: list[Path], stored: StoredSeries) -> None:
    assert len(paths) == len(stored.datasets)
    datasets = [pydicom.dcmread(p) for p in paths]
    assert {str(ds.PatientName) for ds in datasets} == {"ANONYMOUS"}
    assert {ds.PatientID for ds in datasets} == {"ANON-7"}
    assert len({ds.StudyInstanceUID for ds in datasets}) == 1
    assert datasets[0].StudyInstanceUID != stored.study_uid
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
    assert not {ds.SOPInstanceUID for ds in datasets} & {str(d.SOPInstanceUID) for d in stored.datasets}
    assert all("PatientBirthDate" not in ds or not ds.PatientBirthDate for ds in datasets)
    assert all(ds.pixel_array.shape == (24, 20) for ds in datasets)


def test_orthanc_anonymize(archive: OrthancArchive, synthetic_ct: StoredSeries, tmp_path: Path) -> None:
    paths = anonymize_study(archive, synthetic_ct.study_uid, tmp_path, patient_id="ANON-7")
    check(paths, synthetic_ct)
    assert archive.studies(patient_id="ANON-7").empty  # the server-side copy was removed


def test_pydicom_route(orthanc: LocalOrthanc, synthetic_ct: StoredSeries, tmp_path: Path) -> None:
    dicomweb = connect(f"{orthanc.url}/dicom-web", orthanc.username, orthanc.password, kind="dicomweb")
    paths = anonymize_study(dicomweb, synthetic_ct.study_uid, tmp_path, patient_id="ANON-7", salt="s")
    check(paths, synthetic_ct)
    ds = pydicom.dcmread(paths[0])
    assert ds.StudyInstanceUID == remap_uid(synthetic_ct.study_uid, "s")
    assert ds.PatientIdentityRemoved == "YES"
    with pytest.raises(NotFoundError):
        anonymize_study(dicomweb, "1.2.3.999", tmp_path / "none")
