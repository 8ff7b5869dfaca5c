"""Test series of the imaging tests, built with pydicom and stored once per session in the test Orthanc.

They do not depend on the demo hospital: a synthetic CT with rescale and known geometry, an Enhanced CT
multi-frame, lossless compressed copies of pydicom's ``MR_small.dcm``, a JPEG baseline image, and pydicom's
character-set files (with fresh UIDs, since several share theirs).
"""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_file
from pydicom.uid import generate_uid

from tests.imaging.stored import COMPRESSED, ORIGIN, SPACING, StoredSeries, to_bytes, with_new_uids
from workbench.imaging import connect
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.orthanc import OrthancArchive
from workbench.testing.synthetic import ct_series, enhanced_ct


@pytest.fixture
def archive(orthanc: LocalOrthanc) -> OrthancArchive:
    """An Orthanc archive on the session server, with this test's own (empty) cache folder."""
    result = connect(orthanc.url, orthanc.username, orthanc.password)
    assert isinstance(result, OrthancArchive)
    return result


@pytest.fixture(scope="session")
def synthetic_ct(orthanc: LocalOrthanc) -> StoredSeries:
    """A 12-slice CT (rescale -1024, spacing 0.7 x 0.8 x 2.5 mm), InstanceNumber reversed, sent shuffled."""
    datasets = ct_series(
        12,
        24,
        20,
        spacing=SPACING,
        origin=ORIGIN,
        patient_id="IMG-CT-01",
        patient_name="Yamada^Hanako=山田^花子=やまだ^はなこ",
        seed=1,
    )
    orthanc.client().upload(datasets, progress=False)
    return StoredSeries(
        "IMG-CT-01", str(datasets[0].StudyInstanceUID), str(datasets[0].SeriesInstanceUID), datasets
    )


@pytest.fixture(scope="session")
def oblique_ct(orthanc: LocalOrthanc) -> StoredSeries:
    """A 6-slice oblique CT whose InstanceNumber follows position (MONAI's PydicomReader sorts by it)."""
    row = (0.8660254037844387, 0.5, 0.0)
    col = (0.0, 0.0, -1.0)  # coronal-ish, tilted 30 degrees about the vertical axis
    datasets = ct_series(
        6,
        10,
        14,
        spacing=(0.9, 1.1, 3.0),
        origin=(12.5, -30.0, 80.0),
        row_direction=row,
        column_direction=col,
        slope=2.0,
        intercept=-1000.0,
        patient_id="IMG-CT-02",
        patient_name="Morita^Kenta=森田^健太=もりた^けんた",  # no demo-hospital patient shares it
        seed=2,
        shuffle=False,
    )
    for k, ds in enumerate(datasets):
        ds.InstanceNumber = k + 1
    orthanc.client().upload(datasets, progress=False)
    return StoredSeries(
        "IMG-CT-02", str(datasets[0].StudyInstanceUID), str(datasets[0].SeriesInstanceUID), datasets
    )


@pytest.fixture(scope="session")
def multiframe_ct(orthanc: LocalOrthanc) -> StoredSeries:
    """One Enhanced CT instance of 7 frames stored in a scrambled frame order."""
    slices = ct_series(
        7,
        12,
        12,
        spacing=(0.5, 0.5, 1.25),
        patient_id="IMG-MF-01",
        patient_name="Tanaka^Jiro",
        seed=3,
        shuffle=False,
    )
    ds = enhanced_ct(slices, frame_order=[4, 0, 6, 2, 1, 5, 3])
    orthanc.client().upload([ds], progress=False)
    return StoredSeries("IMG-MF-01", str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), [ds, *slices])


@pytest.fixture(scope="session")
def compressed_series(orthanc: LocalOrthanc) -> dict[str, StoredSeries]:
    """MR_small in several transfer syntaxes, each in its own series of one study (plus the reference)."""
    study_uid = generate_uid(entropy_srcs=["compressed", "study"])
    stored = {}
    for label, name in {"reference": "MR_small.dcm", **COMPRESSED}.items():
        ds = pydicom.dcmread(get_testdata_file(name, download=False))
        ds = with_new_uids(ds, label, study_uid=study_uid, patient_id="IMG-MR-COMP")
        orthanc.client().upload([to_bytes(ds)], progress=False)
        stored[label] = StoredSeries("IMG-MR-COMP", study_uid, str(ds.SeriesInstanceUID), [ds])
    jpeg = with_new_uids(
        pydicom.dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm", download=False)),
        "jpeg",
        patient_id="IMG-MR-COMP",
        study_uid=study_uid,
    )
    orthanc.client().upload([to_bytes(jpeg)], progress=False)
    stored["JPEG baseline"] = StoredSeries("IMG-MR-COMP", study_uid, str(jpeg.SeriesInstanceUID), [jpeg])
    return stored


@pytest.fixture(scope="session")
def charset_patients(orthanc: LocalOrthanc) -> dict[str, str]:
    """pydicom's character-set files stored with fresh UIDs; patient ID -> the name pydicom decodes.

    ``chrSQEncoding*`` are left out: they lack the UIDs Orthanc needs.
    """
    expected = {}
    for path in sorted(get_charset_files("chr*.dcm")):
        name = Path(path).stem
        if name.startswith("chrSQEncoding"):
            continue
        ds = pydicom.dcmread(path)
        patient_id = f"IMG-CHR-{name}"
        data = to_bytes(with_new_uids(ds, name, patient_id=patient_id))
        orthanc.client().upload([data], progress=False)
        expected[patient_id] = str(pydicom.dcmread(io.BytesIO(data)).PatientName)
    return expected
