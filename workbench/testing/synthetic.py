"""Synthetic DICOM series with known geometry: test fixtures and benchmark data, built with pydicom.

These are not the demo hospital (``workbench.imaging.demo``): they are minimal, fast to build, and their
geometry is chosen by the caller so that tests can compare a loaded volume with the truth.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)


def _meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta


def ct_series(
    n_slices: int = 8,
    rows: int = 16,
    columns: int = 16,
    *,
    spacing: Sequence[float] = (0.7, 0.8, 2.5),
    origin: Sequence[float] = (-100.0, -120.0, 40.0),
    row_direction: Sequence[float] = (1.0, 0.0, 0.0),
    column_direction: Sequence[float] = (0.0, 1.0, 0.0),
    slope: float = 1.0,
    intercept: float = -1024.0,
    patient_id: str = "SYNTH-001",
    patient_name: str = "Yamada^Taro=山田^太郎=やまだ^たろう",
    study_date: dt.date = dt.date(2024, 1, 15),
    study_uid: str | None = None,
    series_uid: str | None = None,
    description: str = "synthetic chest CT",
    seed: int = 0,
    shuffle: bool = True,
) -> list[Dataset]:
    """Build a single-frame CT series whose geometry is known exactly.

    Parameters
    ----------
    n_slices, rows, columns
        Size of the volume.
    spacing
        (x, y, z) in mm: column spacing, row spacing, distance between slices.
    origin
        LPS position of the first voxel of the first slice.
    row_direction, column_direction
        ImageOrientationPatient (unit vectors, orthogonal); slices advance along their cross product.
    slope, intercept
        RescaleSlope/RescaleIntercept written to every slice.
    patient_id, patient_name, study_date, study_uid, series_uid, description
        Identity of the series (UIDs generated when omitted); the name is stored as UTF-8 (ISO_IR 192).
    seed
        Seed of the pixel values; stored values are ``k * 100 + noise`` so slice order is checkable.
    shuffle
        Return the instances in a scrambled order with InstanceNumber not matching position, as archives do.

    Returns
    -------
    list of pydicom.dataset.Dataset
        One dataset per slice, ready for ``OrthancClient.upload``.
    """
    rng = np.random.default_rng(seed)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = generate_uid()
    row = np.asarray(row_direction, dtype=float)
    col = np.asarray(column_direction, dtype=float)
    normal = np.cross(row, col)
    datasets = []
    for k in range(n_slices):
        position = np.asarray(origin, dtype=float) + k * spacing[2] * normal
        pixels = (rng.integers(0, 50, size=(rows, columns)) + 100 * k).astype(np.uint16)
        sop_uid = generate_uid()
        ds = Dataset()
        ds.file_meta = _meta(CTImageStorage, sop_uid)
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = study_date.strftime("%Y%m%d")
        ds.StudyTime = "101500"
        ds.Modality = "CT"
        ds.AccessionNumber = f"ACC{seed:05d}"
        ds.StudyDescription = description
        ds.SeriesDescription = description
        ds.BodyPartExamined = "CHEST"
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.PatientBirthDate = "19600101"
        ds.PatientSex = "M"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = 2
        ds.InstanceNumber = n_slices - k  # deliberately reversed: order must come from positions
        ds.FrameOfReferenceUID = frame_uid
        ds.ImagePositionPatient = [round(float(v), 6) for v in position]
        ds.ImageOrientationPatient = [round(float(v), 10) for v in (*row, *col)]  # DS: 16 characters at most
        ds.PixelSpacing = [float(spacing[1]), float(spacing[0])]
        ds.SliceThickness = float(spacing[2])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = rows
        ds.Columns = columns
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.RescaleType = "HU"
        ds.WindowCenter = 40
        ds.WindowWidth = 400
        ds.PixelData = pixels.tobytes()
        datasets.append(ds)
    if shuffle:
        order = rng.permutation(n_slices)
        datasets = [datasets[i] for i in order]
    return datasets


def tiny_study(index: int, *, patient_id: str | None = None, modality: str = "CT") -> Dataset:
    """One 4x4 instance forming its own study: cheap material for search benchmarks and paging tests.

    Parameters
    ----------
    index
        Makes the UIDs, the accession number and the date (spread over 2015-2024) distinct and reproducible.
    patient_id
        Default ``BENCH-<index // 5>`` (five studies per patient).
    modality
        The series' modality.
    """
    uid_root = f"1.2.826.0.1.3680043.8.498.77.{index}"
    sop_uid = f"{uid_root}.3.1"
    ds = Dataset()
    ds.file_meta = _meta(CTImageStorage, sop_uid)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = f"{uid_root}.1"
    ds.SeriesInstanceUID = f"{uid_root}.2"
    ds.PatientID = patient_id or f"BENCH-{index // 5:05d}"
    ds.PatientName = f"Bench^Patient{index // 5:05d}"
    ds.StudyDate = (dt.date(2015, 1, 1) + dt.timedelta(days=index % 3650)).strftime("%Y%m%d")
    ds.StudyTime = "090000"
    ds.AccessionNumber = f"B{index:07d}"
    ds.StudyDescription = "bench"
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(32)
    return ds


def enhanced_ct(slices: Sequence[Dataset], *, frame_order: Sequence[int] | None = None) -> Dataset:
    """Merge a :func:`ct_series` into one Enhanced CT multi-frame instance (per-frame functional groups).

    Parameters
    ----------
    slices
        Single-frame slices of one series (same size, orientation, spacing and rescale).
    frame_order
        Which slice becomes frame 0, 1, ...; default: the order given.

    Returns
    -------
    pydicom.dataset.Dataset
        An Enhanced CT Image with PlanePositionSequence per frame and orientation, pixel measures and
        rescale in the shared functional groups; same study and series as ``slices``.
    """
    order = list(frame_order) if frame_order is not None else list(range(len(slices)))
    first = slices[0]
    sop_uid = generate_uid()
    ds = Dataset()
    ds.file_meta = _meta(EnhancedCTImageStorage, sop_uid)
    for keyword in (
        "SpecificCharacterSet",
        "StudyDate",
        "StudyTime",
        "Modality",
        "AccessionNumber",
        "StudyDescription",
        "SeriesDescription",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "StudyID",
        "SeriesNumber",
        "FrameOfReferenceUID",
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "Rows",
        "Columns",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
    ):
        setattr(ds, keyword, first[keyword].value)
    ds.SOPClassUID = EnhancedCTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = 1
    ds.NumberOfFrames = len(order)
    shared = Dataset()
    orientation, measures, transform = Dataset(), Dataset(), Dataset()
    orientation.ImageOrientationPatient = first.ImageOrientationPatient
    measures.PixelSpacing = first.PixelSpacing
    measures.SliceThickness = first.SliceThickness
    transform.RescaleSlope = first.RescaleSlope
    transform.RescaleIntercept = first.RescaleIntercept
    transform.RescaleType = "HU"
    shared.PlaneOrientationSequence = [orientation]
    shared.PixelMeasuresSequence = [measures]
    shared.PixelValueTransformationSequence = [transform]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    for index in order:
        group, position = Dataset(), Dataset()
        position.ImagePositionPatient = slices[index].ImagePositionPatient
        group.PlanePositionSequence = [position]
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.PixelData = b"".join(slices[index].PixelData for index in order)
    return ds
