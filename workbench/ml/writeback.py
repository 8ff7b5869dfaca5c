"""Model results back into the archive as DICOM that clinicians' viewers understand.

A classification becomes a **Comprehensive 3D SR** (TID 1500 Measurement Report, built with highdicom):
one measurement group, tracked by a UID, whose "Finding" is the predicted class (a SNOMED CT code where one
exists: Pneumonia 233604007, Normal 17621005, else a local code), with the qualitative evaluation "Presence
of property: Present" and the measurement "Probability" (DCM 122157, unit 1): the model's probability of
that class. The group lists
every image of the source series as "Source of Measurement"; the SR joins the source study, inherits its
patient and lists the series as evidence, so any viewer shows it beside the images. The algorithm is
named in the group (TID 4019) and the observer is a device.

A mask becomes a **SEG** (highdicom ``Segmentation``, binary) on the frame of reference of its source series.

:func:`read_predictions` finds the SRs again through the archive's search and reads them back as a table.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pydicom
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

import workbench
from workbench.errors import DicomDataError, NotFoundError

if TYPE_CHECKING:
    import highdicom as hd
    from pydicom.dataset import Dataset

    from workbench.imaging import Archive

logger = logging.getLogger(__name__)

MANUFACTURER = "workbench"
SR_SERIES_NUMBER = 9001
SEG_SERIES_NUMBER = 9002
LOCAL_SCHEME = "99WORKBENCH"
"""Coding scheme of class names that have no standard code."""

FINDING_CODES: dict[str, Code] = {
    "pneumonia": Code("233604007", "SCT", "Pneumonia"),
    "normal": codes.SCT.Normal,
    "ground glass opacity": codes.DCM.GroundGlassOpacity,
}
"""Standard codes of class names (lower case); other names get a code in :data:`LOCAL_SCHEME`."""

PROCEDURE_CT_CHEST = Code("169069000", "SCT", "CT of chest")
UTF8 = "ISO_IR 192"
"""Character set of what we write: UTF-8 carries any patient name (the sources' ISO 2022 sets included)."""

TYPE2_HEADERS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "ReferringPhysicianName",
)
"""Patient and study attributes that an SR or SEG must carry (Type 2: present, possibly empty) and that it
copies from its source. Real exports often omit some; they are then written empty."""


def complete_headers(evidence: Sequence[Dataset]) -> list[Dataset]:
    """Copies of source headers ready to be referenced by an SR or SEG.

    Missing :data:`TYPE2_HEADERS` are added empty (highdicom reads them as attributes, and a missing one
    would raise ``AttributeError``), and the text is held decoded with ``SpecificCharacterSet`` UTF-8
    (:data:`UTF8`): ``\\ISO 2022 IR 87`` and other sets with an empty first value are not accepted by
    highdicom as the character set of a new object, and UTF-8 carries every name they can hold.
    The given datasets are not changed.
    """
    import copy

    out = []
    for ds in evidence:
        ds = copy.deepcopy(ds)
        ds.decode()  # text values become str under the source's own character set
        for keyword in TYPE2_HEADERS:
            if keyword not in ds:
                setattr(ds, keyword, "")
        ds.SpecificCharacterSet = UTF8
        out.append(ds)
    return out


def finding_code(label: str) -> Code:
    """The code of a class name: SNOMED CT/DCM when known (:data:`FINDING_CODES`), else a local one."""
    if not label or not label.strip():
        raise ValueError("a finding needs a non-empty class name")
    return FINDING_CODES.get(label.strip().lower(), Code(label.strip()[:64], LOCAL_SCHEME, label.strip()))


PREDICTION_UID_ROLES = ("series", "instance", "tracking", "observer")
"""The UIDs of one prediction report: its series, its instance, its measurement group's tracking UID, and the
device observer."""


def prediction_uids(
    source_series_uid: str, *, finding: str, probability: float, algorithm_name: str, algorithm_version: str
) -> dict[str, str]:
    """The UIDs of the report of one prediction, derived from what it says (same prediction, same UIDs).

    The source series, the finding, the probability (to 4 decimals) and the algorithm's name and version
    are hashed into each UID (:func:`pydicom.uid.generate_uid` with them as entropy), so writing the same
    prediction again makes the same SR, which the archive already holds, instead of another one.

    Returns
    -------
    dict
        ``series``, ``instance``, ``tracking``, ``observer`` -> UID.
    """
    key = [str(source_series_uid), str(finding), f"{float(probability):.4f}"]
    key += [algorithm_name, algorithm_version]
    return {role: generate_uid(entropy_srcs=[*key, role]) for role in PREDICTION_UID_ROLES}


def prediction_sr(
    evidence: Sequence[Dataset],
    *,
    finding: str,
    probability: float,
    algorithm_name: str,
    algorithm_version: str,
    procedure: Code = PROCEDURE_CT_CHEST,
    series_description: str | None = None,
) -> hd.sr.Comprehensive3DSR:
    """Build the SR of one prediction about one series; its UIDs are :func:`prediction_uids` (deterministic).

    Parameters
    ----------
    evidence
        Headers (pixels not needed) of the source series' instances; the SR joins their study.
    finding
        Predicted class name (``"pneumonia"``).
    probability
        The model's probability of ``finding``, in [0, 1].
    algorithm_name, algorithm_version
        Identify the model (TID 4019), e.g. ``"workbench DenseNet121 GGO"`` and a run id.
    procedure
        The procedure reported (default "CT of chest").
    series_description
        SeriesDescription of the SR (default ``"AI: <algorithm_name>"``).

    Returns
    -------
    highdicom.sr.Comprehensive3DSR

    Raises
    ------
    ValueError
        No evidence, evidence from several series, or a probability outside [0, 1].
    """
    import highdicom as hd

    if not evidence:
        raise ValueError("no source instances given: the SR must reference the series it is about")
    series = {str(ds.SeriesInstanceUID) for ds in evidence}
    if len(series) != 1:
        raise ValueError(
            f"the source instances belong to {len(series)} series; give the instances of one series"
        )
    if not 0.0 <= float(probability) <= 1.0:
        raise ValueError(f"probability must be within [0, 1], got {probability}")
    evidence = complete_headers(evidence)
    uids = prediction_uids(
        next(iter(series)), finding=finding, probability=probability, algorithm_name=algorithm_name,
        algorithm_version=algorithm_version,
    )
    algorithm = hd.sr.AlgorithmIdentification(name=algorithm_name, version=algorithm_version)
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=hd.UID(uids["tracking"]), identifier=f"{algorithm_name} classification"
        ),
        algorithm_id=algorithm,
        finding_type=finding_code(finding),
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(name=codes.DCM.PresenceOfProperty,
                                                             value=codes.SCT.Present)],
        measurements=[
            hd.sr.Measurement(
                name=codes.DCM.Probability,
                value=float(probability),
                unit=codes.UCUM.NoUnits,
                algorithm_id=algorithm,
            )
        ],
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(ds) for ds in evidence],
    )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(uids["observer"]), name=algorithm_name, manufacturer_name=MANUFACTURER
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=procedure,
        imaging_measurements=[group],
    )
    return hd.sr.Comprehensive3DSR(
        evidence=list(evidence),
        content=report[0],
        series_instance_uid=hd.UID(uids["series"]),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=hd.UID(uids["instance"]),
        instance_number=1,
        manufacturer=MANUFACTURER,
        series_description=series_description or f"AI: {algorithm_name}"[:64],
        software_versions=workbench.__version__,
        is_complete=True,
        specific_character_set=UTF8,
    )


def source_headers(archive: Archive, series_uid: str) -> list[Dataset]:
    """Headers of the instances of a series, read from the files the archive stores.

    Parameters
    ----------
    archive
        Where the series is.
    series_uid
        SeriesInstanceUID.

    Returns
    -------
    list of pydicom.dataset.Dataset
        One per instance, without pixel data.
    """
    with tempfile.TemporaryDirectory(prefix="workbench-src-") as folder:
        paths = archive.download_series(series_uid, folder)
        if not paths:
            raise DicomDataError(f"series {series_uid} has no instances in the archive")
        return [pydicom.dcmread(path, stop_before_pixels=True) for path in paths]


def write_prediction(
    archive: Archive,
    series_uid: str,
    *,
    finding: str,
    probability: float,
    algorithm_name: str,
    algorithm_version: str,
) -> str:
    """Write one prediction as an SR into the archive, beside the series it is about (once).

    The SR's UIDs follow from the prediction (:func:`prediction_uids`): when the archive already holds the
    SR of the same prediction (a rerun of the same model on the same series), nothing is written and its
    series UID is returned.

    Parameters
    ----------
    archive
        Where the source series is and the SR goes.
    series_uid
        The source series.
    finding, probability, algorithm_name, algorithm_version
        As for :func:`prediction_sr`.

    Returns
    -------
    str
        SeriesInstanceUID of the SR (modality ``SR``, in the source study).
    """
    uids = prediction_uids(
        series_uid, finding=finding, probability=probability, algorithm_name=algorithm_name,
        algorithm_version=algorithm_version,
    )
    if _holds_instance(archive, uids["series"], uids["instance"]):
        logger.info("SR %s of this prediction of series %s is already stored", uids["series"], series_uid)
        return uids["series"]
    sr = prediction_sr(
        source_headers(archive, series_uid),
        finding=finding,
        probability=probability,
        algorithm_name=algorithm_name,
        algorithm_version=algorithm_version,
    )
    archive.store([sr])
    logger.info(
        "stored SR %s (%s, p=%.3f) for series %s", sr.SeriesInstanceUID, finding, probability, series_uid
    )
    return str(sr.SeriesInstanceUID)


def _holds_instance(archive: Archive, series_uid: str, instance_uid: str) -> bool:
    """Whether ``archive`` holds instance ``instance_uid`` of series ``series_uid``."""
    try:
        found = archive.instances(series_uid=series_uid)
    except NotFoundError:
        return False
    return instance_uid in set(found["sop_instance_uid"])


def read_prediction(dataset: Dataset) -> dict[str, Any]:
    """Read a prediction SR written by :func:`prediction_sr`.

    Parameters
    ----------
    dataset
        The SR.

    Returns
    -------
    dict
        ``sr_series_uid``, ``sr_instance_uid``, ``patient_id``, ``study_uid``, ``source_series_uid``,
        ``finding``, ``finding_code``, ``probability``, ``algorithm``, ``content_date``, ``content_time``.

    Raises
    ------
    DicomDataError
        The dataset is not such an SR.
    """
    import highdicom as hd

    try:
        sr = hd.sr.Comprehensive3DSR.from_dataset(dataset, copy=False)
        groups = sr.content.get_image_measurement_groups()  # type: ignore[attr-defined]
    except (AttributeError, ValueError, TypeError) as exc:
        raise DicomDataError(
            f"SR {getattr(dataset, 'SOPInstanceUID', '?')} is not a workbench prediction report: {exc}"
        ) from None
    if not groups:
        raise DicomDataError(f"SR {dataset.SOPInstanceUID} holds no measurement group")
    group = groups[0]
    finding = group.finding_type
    probabilities = group.get_measurements(name=codes.DCM.Probability)
    if finding is None or not probabilities:
        raise DicomDataError(f"SR {dataset.SOPInstanceUID} has no Finding or no Probability")
    source = sorted({str(series) for _, series in sr.get_evidence_series()})
    algorithm = [
        str(item.TextValue)
        for name in (codes.DCM.AlgorithmName, codes.DCM.AlgorithmVersion)
        for item in hd.sr.utils.find_content_items(group[0], name=name)[:1]
    ]
    return {
        "sr_series_uid": str(dataset.SeriesInstanceUID),
        "sr_instance_uid": str(dataset.SOPInstanceUID),
        "patient_id": str(dataset.PatientID),
        "study_uid": str(dataset.StudyInstanceUID),
        "source_series_uid": source[0] if len(source) == 1 else "\\".join(source),
        "finding": finding.meaning,
        "finding_code": f"{finding.scheme_designator}:{finding.value}",
        "probability": float(probabilities[0].value),
        "algorithm": " ".join(algorithm),
        "content_date": str(dataset.get("ContentDate", "")),
        "content_time": str(dataset.get("ContentTime", "")),
    }


PREDICTION_COLUMNS = [
    "sr_series_uid", "sr_instance_uid", "patient_id", "study_uid", "source_series_uid", "finding",
    "finding_code", "probability", "algorithm", "content_date", "content_time",
]


def read_predictions(archive: Archive, **filters: Any) -> pd.DataFrame:
    """Find prediction SRs through the archive's search and read them back.

    Parameters
    ----------
    archive
        Where to search.
    **filters
        Series filters of :meth:`Archive.series` (``patient_id=...``, ``study_uid=...``); ``modality`` is
        ``"SR"``.

    Returns
    -------
    pandas.DataFrame
        One row per prediction (columns of :func:`read_prediction`); SRs of other kinds are skipped.
    """
    found = archive.series(modality="SR", **filters)
    rows = []
    with tempfile.TemporaryDirectory(prefix="workbench-sr-") as folder:
        for uid in found["series_uid"]:
            for path in archive.download_series(uid, Path(folder) / uid):
                try:
                    rows.append(read_prediction(pydicom.dcmread(path)))
                except DicomDataError as exc:
                    logger.info("skipping %s: %s", path.name, exc)
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)


def segmentation(
    evidence: Sequence[Dataset],
    mask: np.ndarray,
    *,
    label: str,
    algorithm_name: str,
    algorithm_version: str,
) -> hd.seg.Segmentation:
    """Build a binary SEG of ``mask`` on its source series.

    Parameters
    ----------
    evidence
        Headers of the source images **in slice order** (``Volume.metadata["sop_instance_uids"]``).
    mask
        Boolean/0-1 array shaped like ``Volume.array``: (slices, rows, columns).
    label
        What the mask shows (``"ground glass opacity"``): segment label and property type.
    algorithm_name, algorithm_version
        Identify the algorithm that made the mask.

    Returns
    -------
    highdicom.seg.Segmentation

    Raises
    ------
    ValueError
        The mask's shape does not match the source images, or it is not binary.
    """
    import highdicom as hd

    mask = np.asarray(mask)
    expected = (len(evidence), int(evidence[0].Rows), int(evidence[0].Columns)) if evidence else None
    if expected is None or mask.shape != expected:
        raise ValueError(
            f"mask shape {mask.shape} does not match the source series {expected} (slices, rows, columns); "
            "give it in Volume.array layout"
        )
    if not np.isin(np.unique(mask), (0, 1)).all():
        raise ValueError("the mask must be binary (0/1 or bool)")
    evidence = complete_headers(evidence)
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=label[:64],
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=finding_code(label),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name=algorithm_name, version=algorithm_version, family=codes.cid7162.ArtificialIntelligence
        ),
    )
    return hd.seg.Segmentation(
        source_images=list(evidence),
        pixel_array=mask.astype(bool),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=hd.UID(),
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=algorithm_name[:64],
        software_versions=workbench.__version__,
        device_serial_number="0",
        series_description=f"AI mask: {label}"[:64],
        specific_character_set=UTF8,
    )


def write_segmentation(
    archive: Archive,
    series_uid: str,
    mask: np.ndarray,
    *,
    label: str,
    algorithm_name: str,
    algorithm_version: str,
) -> str:
    """Write a mask of a series as a SEG into the archive.

    Parameters
    ----------
    archive
        Where the source series is and the SEG goes.
    series_uid
        The source series; ``mask`` is laid out like ``archive.load_series(series_uid).array``.
    mask, label, algorithm_name, algorithm_version
        As for :func:`segmentation`.

    Returns
    -------
    str
        SeriesInstanceUID of the new SEG.
    """
    order = list(archive.load_series(series_uid, progress=False).metadata["sop_instance_uids"])
    headers = {str(ds.SOPInstanceUID): ds for ds in source_headers(archive, series_uid)}
    missing = [uid for uid in order if uid not in headers]
    if missing:
        raise DicomDataError(
            f"series {series_uid}: instances {missing[:3]} of the volume were not downloaded"
        )
    seg = segmentation(
        [headers[uid] for uid in order],
        mask,
        label=label,
        algorithm_name=algorithm_name,
        algorithm_version=algorithm_version,
    )
    archive.store([seg])
    logger.info("stored SEG %s (%s) for series %s", seg.SeriesInstanceUID, label, series_uid)
    return str(seg.SeriesInstanceUID)


def write_predictions(
    archive: Archive, predictions: pd.DataFrame, *, algorithm_name: str, algorithm_version: str
) -> dict[str, str]:
    """Store one prediction report per row of ``predictions`` (:func:`write_prediction`).

    Parameters
    ----------
    archive
        Where the source series are and the reports go.
    predictions
        :func:`workbench.ml.training.predict` rows: ``series_uid``, ``predicted_class``, ``probability``.
    algorithm_name, algorithm_version
        Recorded in each report.

    Returns
    -------
    dict
        Source SeriesInstanceUID -> the report's SeriesInstanceUID.
    """
    return {
        row.series_uid: write_prediction(
            archive, row.series_uid, finding=row.predicted_class, probability=row.probability,
            algorithm_name=algorithm_name, algorithm_version=algorithm_version,
        )
        for row in predictions.itertuples()
    }
