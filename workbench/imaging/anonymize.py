"""Anonymized export of a study: Orthanc's ``/anonymize`` where available, pydicom otherwise.

Orthanc anonymizes with its DICOM PS3.15 basic profile (new UIDs kept consistent across the study); the
anonymized copy it creates is exported and then deleted from the archive. Any other archive gets a pydicom
de-identification of the downloaded files: identifying attributes removed or replaced, private tags
dropped, UIDs remapped consistently (a keyed hash, so the same study always maps to the same new UIDs for
one ``salt``), and PatientIdentityRemoved set.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import zipfile
from pathlib import Path
from typing import Any

from workbench.errors import NotFoundError
from workbench.files import atomic_write
from workbench.imaging.archive import Archive

logger = logging.getLogger(__name__)

REMOVED = (
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "OtherPatientIDs",
    "OtherPatientNames",
    "OtherPatientIDsSequence",
    "PatientMotherBirthName",
    "MilitaryRank",
    "EthnicGroup",
    "ReferringPhysicianName",
    "ReferringPhysicianAddress",
    "PerformingPhysicianName",
    "OperatorsName",
    "NameOfPhysiciansReadingStudy",
    "PhysiciansOfRecord",
    "RequestingPhysician",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "StationName",
    "DeviceSerialNumber",
    "AdditionalPatientHistory",
    "PatientComments",
    "MedicalRecordLocator",
    "RequestAttributesSequence",
)
"""Attributes deleted by the pydicom route."""
EMPTIED = ("AccessionNumber", "StudyID")
"""Attributes kept (type 2) but emptied."""
UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")


def anonymize_study(
    archive: Archive,
    study_uid: str,
    folder: str | Path,
    *,
    patient_id: str = "ANON",
    patient_name: str = "ANONYMOUS",
    salt: str = "workbench",
) -> list[Path]:
    """Write an anonymized copy of every instance of a study to ``folder``.

    Parameters
    ----------
    archive
        Where the study is; an Orthanc archive anonymizes server-side.
    study_uid
        StudyInstanceUID.
    folder
        Target folder (created); files are named ``<new SOPInstanceUID>.dcm``.
    patient_id, patient_name
        The pseudonyms written in place of the patient's identity.
    salt
        Key of the UID remapping (pydicom route): keep it secret to make UIDs non-reversible.

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    NotFoundError
        No such study.
    """
    import pydicom

    from workbench.imaging.orthanc import OrthancArchive

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(archive, OrthancArchive):
        return _orthanc(archive, study_uid, folder, patient_id, patient_name)
    series = archive.series(study_uid=study_uid)
    if series.empty:
        raise NotFoundError(f"study {study_uid} not found on {archive.url}")
    paths = []
    for series_uid in series.series_uid:
        for path in archive.download_series(series_uid, folder / ".original"):
            ds = deidentify(
                pydicom.dcmread(path), patient_id=patient_id, patient_name=patient_name, salt=salt
            )
            target = folder / f"{ds.SOPInstanceUID}.dcm"
            atomic_write(target, functools.partial(ds.save_as, enforce_file_format=True))
            path.unlink()
            paths.append(target)
    (folder / ".original").rmdir()
    return paths


def _orthanc(archive: Any, study_uid: str, folder: Path, patient_id: str, patient_name: str) -> list[Path]:
    from workbench.imaging.wire import sop_instance_uid_of

    study_id = archive.study_id(study_uid)
    body = {
        "Replace": {"PatientID": patient_id, "PatientName": patient_name},
        "KeepPrivateTags": False,
        "Force": True,
    }
    copy = archive.client.post_json(f"/studies/{study_id}/anonymize", body, what=f"study {study_uid}")
    try:
        data = archive.client.get_bytes(f"/studies/{copy['ID']}/archive", what="anonymized study")
        paths = []
        with zipfile.ZipFile(io.BytesIO(data)) as zipped:
            for name in zipped.namelist():
                if name.endswith("/"):
                    continue
                payload = zipped.read(name)
                target = folder / f"{sop_instance_uid_of(payload)}.dcm"
                atomic_write(target, payload)
                paths.append(target)
    finally:
        archive.client.request("DELETE", f"/studies/{copy['ID']}")
    logger.info("exported %d anonymized instances of study %s to %s", len(paths), study_uid, folder)
    return paths


def deidentify(ds: Any, *, patient_id: str, patient_name: str, salt: str) -> Any:
    """De-identify one pydicom dataset in place (basic profile subset) and return it.

    Parameters
    ----------
    ds
        The dataset.
    patient_id, patient_name
        Pseudonyms.
    salt
        Key of the consistent UID remapping.
    """
    for keyword in REMOVED:
        if keyword in ds:
            delattr(ds, keyword)
    for keyword in EMPTIED:
        if keyword in ds:
            setattr(ds, keyword, "")
    ds.PatientID = patient_id
    ds.PatientName = patient_name
    ds.remove_private_tags()
    for keyword in UID_KEYWORDS:
        if keyword in ds:
            setattr(ds, keyword, remap_uid(str(getattr(ds, keyword)), salt))
    if hasattr(ds, "file_meta") and "SOPInstanceUID" in ds:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "workbench: basic profile subset, UIDs remapped"
    return ds


def remap_uid(uid: str, salt: str) -> str:
    """A new UID derived from ``uid`` with a keyed hash (same input and salt, same output)."""
    digest = hashlib.sha256(f"{salt}\n{uid}".encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))
