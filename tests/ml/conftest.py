"""Small synthetic series for the ML tests, uploaded once to the session's Orthanc.

``ml_series`` holds three series of one patient: an oblique CT volume (12 slices of 24x20, anisotropic
pixels, HU rescale, InstanceNumber following position so MONAI's PydicomReader stacks them the same way),
a Secondary Capture without geometry and a one-image CR radiograph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ComputedRadiographyImageStorage,
    CTImageStorage,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

PATIENT_ID = "ML-TEST-0001"


def _base(sop_class: str, study: str, series: str, modality: str, number: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientID, ds.PatientName = PATIENT_ID, "Test^Monai"
    ds.PatientBirthDate, ds.PatientSex = "19600101", "O"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240110", "101500", "1", "ACC-ML-1"
    ds.ReferringPhysicianName = ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = modality, 1, number
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    return ds


def ct_series(
    n_slices: int = 12, rows: int = 20, columns: int = 24, *, angle_deg: float = 20.0, seed: int = 0
) -> list[Dataset]:
    """An oblique axial CT: in-plane rotation ``angle_deg``, pixels 0.8 x 0.7 mm, slices 2.5 mm apart."""
    rng = np.random.default_rng(seed)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    a = np.radians(angle_deg)
    row_dir, col_dir = np.array([np.cos(a), np.sin(a), 0.0]), np.array([-np.sin(a), np.cos(a), 0.0])
    normal = np.cross(row_dir, col_dir)
    origin = np.array([-90.0, -70.0, -40.0])
    out = []
    for k in range(n_slices):
        ds = _base(CTImageStorage, study, series, "CT", k + 1)
        ds.FrameOfReferenceUID = frame
        ds.SeriesDescription = "synthetic oblique CT"
        ds.ImageOrientationPatient = [round(float(v), 6) for v in (*row_dir, *col_dir)]
        ds.ImagePositionPatient = [round(float(v), 4) for v in origin + 2.5 * k * normal]
        ds.PixelSpacing = [0.8, 0.7]
        ds.SliceThickness = 2.5
        ds.Rows, ds.Columns = rows, columns
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.PixelData = rng.integers(0, 2000, (rows, columns), dtype=np.int16).tobytes()
        out.append(ds)
    return out


def secondary_capture(n_images: int = 3) -> list[Dataset]:
    """A Secondary Capture series (screenshots): no ImagePositionPatient/ImageOrientationPatient."""
    study, series = generate_uid(), generate_uid()
    out = []
    for k in range(n_images):
        ds = _base(SecondaryCaptureImageStorage, study, series, "OT", k + 1)
        ds.ConversionType = "WSD"
        ds.Rows, ds.Columns = 16, 16
        ds.PixelData = np.full((16, 16), k, dtype=np.int16).tobytes()
        out.append(ds)
    return out


def radiograph() -> list[Dataset]:
    """A one-image chest radiograph (CR) with ImagerPixelSpacing and no patient geometry."""
    ds = _base(ComputedRadiographyImageStorage, generate_uid(), generate_uid(), "CR", 1)
    ds.BodyPartExamined = "CHEST"
    ds.ImagerPixelSpacing = [0.2, 0.2]
    ds.Rows, ds.Columns = 30, 40
    ds.PixelData = np.arange(30 * 40, dtype=np.int16).reshape(30, 40).tobytes()
    return [ds]


@dataclass(frozen=True)
class MLSeries:
    """UIDs of the uploaded series and the CT's datasets."""

    ct: str
    secondary_capture: str
    radiograph: str
    ct_datasets: list[Dataset]
    patient_id: str = PATIENT_ID


@pytest.fixture(scope="session")
def ml_series(orthanc) -> MLSeries:
    """Upload the synthetic series once per session."""
    ct, sc, cr = ct_series(), secondary_capture(), radiograph()
    orthanc.client().upload([*ct, *sc, *cr], progress=False)
    return MLSeries(ct[0].SeriesInstanceUID, sc[0].SeriesInstanceUID, cr[0].SeriesInstanceUID, ct)


@pytest.fixture
def make_ct() -> Callable[..., list[Dataset]]:
    """:func:`ct_series`, for tests that build datasets without uploading them."""
    return ct_series


@pytest.fixture
def archive(orthanc) -> Iterator[object]:
    """A workbench archive on the session's Orthanc (its own cache folder, per test)."""
    from workbench.imaging import connect

    yield connect(orthanc.url, orthanc.username, orthanc.password)
