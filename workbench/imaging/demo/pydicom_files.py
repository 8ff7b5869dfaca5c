"""Real-world DICOM files that ship inside pydicom: character sets and compressed transfer syntaxes.

They test what synthetic data cannot: Arabic, Greek, Hebrew, Korean and Japanese character sets, and pixel
data in JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000 and RLE. Nothing is downloaded: charset files
come from ``pydicom.data.get_charset_files`` and test files from ``get_testdata_file(name, download=False)``;
a name that is not present locally is skipped.

Some of these files cannot go into Orthanc as they are (see ``ORTHANC_NOTES.md``): ``chrSQEncoding*.dcm``
lack the patient/study/series UIDs (Orthanc answers HTTP 404 "Inexistent tag"), and several files share a
SOPInstanceUID (Orthanc keeps the first). :func:`select` skips those with a reason instead of failing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.data import get_charset_files, get_testdata_file
from pydicom.errors import InvalidDicomError

logger = logging.getLogger(__name__)

COMPRESSED_FILES = (
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline, RGB
    "examples_ybr_color.dcm",  # JPEG baseline, YBR_FULL_422 ultrasound
    "JPEG-lossy.dcm",  # JPEG extended (12-bit) NM
    "SC_rgb_jpeg_gdcm.dcm",  # JPEG lossless
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS lossless
    "693_J2KI.dcm",  # JPEG 2000 CT
    "examples_jpeg2k.dcm",  # JPEG 2000 lossless ultrasound
    "rtdose_rle.dcm",  # RLE, 32-bit multi-frame RT dose
)
"""pydicom test files with compressed pixel data, one or more per codec.

Left out on purpose: ``MR_small_RLE.dcm`` and ``MR_small_jp2klossless.dcm`` (same SOPInstanceUID as
``MR_small_jpeg_ls_lossless.dcm``) and ``JPEGLSNearLossless_*.dcm`` (no study or series UID)."""

REQUIRED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


@dataclass(frozen=True)
class PydicomFile:
    """One candidate file and whether it goes into the archive.

    Attributes
    ----------
    path
        Where pydicom keeps it.
    skip_reason
        ``None`` if it is uploaded, else why not.
    patient_id, patient_name, study_uid, series_uid, modality, series_description
        Read from the file (empty when unreadable).
    """

    path: Path
    skip_reason: str | None
    patient_id: str = ""
    patient_name: str = ""
    study_uid: str = ""
    series_uid: str = ""
    modality: str = ""
    series_description: str = ""


def candidates() -> list[Path]:
    """Every charset file, then the compressed test files present locally (nothing is downloaded)."""
    paths = [Path(p) for p in sorted(get_charset_files("chr*.dcm"))]
    for name in COMPRESSED_FILES:
        found = get_testdata_file(name, download=False)
        if found is None:
            logger.info("pydicom test file %s is not present locally; skipped (no download)", name)
            continue
        paths.append(Path(str(found)))
    return paths


def select(paths: list[Path] | None = None) -> list[PydicomFile]:
    """Decide for each file whether Orthanc can store it.

    A file is skipped, with the reason logged, when pydicom cannot read it, when it lacks one of
    :data:`REQUIRED_UIDS`, or when an earlier file has the same SOPInstanceUID.

    Parameters
    ----------
    paths
        Files to look at; default :func:`candidates`.

    Returns
    -------
    list of PydicomFile
        One per file, in the order given.
    """
    seen: dict[str, str] = {}
    selected = []
    for path in candidates() if paths is None else paths:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError) as exc:
            selected.append(_skip(path, f"pydicom cannot read it ({exc})"))
            continue
        missing = [tag for tag in REQUIRED_UIDS if not ds.get(tag)]
        if missing:
            selected.append(_skip(path, f"it lacks {', '.join(missing)}, so Orthanc refuses it"))
            continue
        sop = str(ds.SOPInstanceUID)
        if sop in seen:
            selected.append(
                _skip(path, f"same SOPInstanceUID as {seen[sop]}; Orthanc would keep only the first")
            )
            continue
        seen[sop] = path.name
        selected.append(
            PydicomFile(
                path=path,
                skip_reason=None,
                patient_id=str(ds.get("PatientID", "")),
                patient_name=str(ds.get("PatientName", "")),
                study_uid=str(ds.StudyInstanceUID),
                series_uid=str(ds.SeriesInstanceUID),
                modality=str(ds.get("Modality", "")),
                series_description=str(ds.get("SeriesDescription", "")) or path.name,
            )
        )
    return selected


def _skip(path: Path, reason: str) -> PydicomFile:
    logger.info("skipping pydicom file %s: %s", path.name, reason)
    return PydicomFile(path=path, skip_reason=reason)
