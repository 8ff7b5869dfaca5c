"""Helpers of the imaging tests: stored test series and pydicom file handling."""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass
from typing import Any

from pydicom.uid import generate_uid

SPACING = (0.7, 0.8, 2.5)
ORIGIN = (-100.0, -120.0, 40.0)
COMPRESSED = {
    "RLE": "MR_small_RLE.dcm",
    "JPEG-LS": "MR_small_jpeg_ls_lossless.dcm",
    "JPEG 2000": "MR_small_jp2klossless.dcm",
    "Implicit VR": "MR_small_implicit.dcm",
    "Big endian": "MR_small_bigendian.dcm",
}
"""Lossless copies of MR_small.dcm in other transfer syntaxes: each must load to MR_small's pixels."""


@dataclass(frozen=True)
class StoredSeries:
    """A test series as stored: UIDs and the datasets that were sent."""

    patient_id: str
    study_uid: str
    series_uid: str
    datasets: list[Any]


def with_new_uids(
    ds: Any,
    tag: str,
    *,
    series_uid: str | None = None,
    study_uid: str | None = None,
    patient_id: str | None = None,
) -> Any:
    """A copy of ``ds`` with fresh SOP (and optionally given series/study) UIDs, header kept in step."""
    ds = copy.deepcopy(ds)
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[tag, "sop"])
    ds.SeriesInstanceUID = series_uid or generate_uid(entropy_srcs=[tag, "series"])
    ds.StudyInstanceUID = study_uid or generate_uid(entropy_srcs=[tag, "study"])
    if patient_id:
        ds.PatientID = patient_id
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def to_bytes(ds: Any) -> bytes:
    """Part 10 bytes of a dataset, keeping its transfer syntax and raw (undecoded) elements."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
