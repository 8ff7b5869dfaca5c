"""The demo hospital's imaging: which series exist, and their DICOM datasets.

Two groups of patients:

inpatients
    The twelve of :data:`workbench.imaging.demo.roster.ROSTER` (Japanese names, pseudonymous SHA-256 IDs
    shared with the discharge-summary cases): a chest CT where ``ct`` is set (ground-glass opacities for
    pneumonia), chest radiographs where ``chest_xray`` is set (a follow-up before discharge for pneumonia),
    a T2 brain MR where ``mr_brain`` is set, all dated within the admission.
screening cohort
    ``SCR-0001`` ... : chest CTs for the MONAI notebooks, half with pneumonia. Their labels come from
    :func:`cohort_labels`, as a curated label file would.

Everything is deterministic: UIDs are hashes of stable names (``pydicom.uid.generate_uid`` with
``entropy_srcs``), and pixels come from seeded phantoms, so loading twice stores nothing new. A series does
not depend on how large a cohort is asked for: patient ``SCR-0003`` is the same in a cohort of 8 or 40.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import numbers
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
import pandas as pd
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_ROOT_UID,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

from workbench.imaging.demo import phantoms
from workbench.imaging.demo.roster import ROSTER, Charset, CTFinding, DemoPatient
from workbench.imaging.volume import xyz

logger = logging.getLogger(__name__)

INSTITUTION = "Workbench Memorial Hospital"
"""Invented institution name written into every generated dataset."""

MANUFACTURER = "Workbench Synthetic"
DEFAULT_COHORT_SIZE = 60
SCREENING_PREFIX = "SCR-"

CT_SLICES = 64
CT_SLICE_MM = 5.0
CT_FIELD_MM = 358.4
"""Field of view of every chest CT: 512 x 0.7 mm for inpatients, 256 x 1.4 mm for the screening cohort."""
CT_TOP_Z = 115.0
"""Table position (patient z, mm; the carina is at 0) of the first, most superior CT slice."""
RENDER_SLAB = 16
"""Slices rendered at once: bounds the phantom's temporary memory."""
MR_SLICES = 24
MR_MATRIX = 256
MR_PIXEL_MM = 0.9
MR_SLICE_MM = 5.0
MR_GAP_MM = 1.0


class Cohort(StrEnum):
    """Which group of demo patients a series belongs to."""

    INPATIENT = "inpatient"
    SCREENING = "screening"


class SeriesKind(StrEnum):
    """The kinds of series the demo hospital generates."""

    CHEST_CT = "chest-ct"
    CHEST_XRAY = "chest-xray"
    BRAIN_MR = "brain-mr"


@dataclass(frozen=True)
class Subject:
    """A demo patient as DICOM sees them."""

    patient_id: str
    name: str
    sex: str
    birth_date: dt.date
    charset: str
    cohort: Cohort

    @property
    def seed(self) -> int:
        """A stable seed for this patient's anatomy."""
        return int(hashlib.sha256(f"workbench-demo-anatomy:{self.patient_id}".encode()).hexdigest()[:15], 16)


@dataclass(frozen=True)
class SeriesPlan:
    """One series to generate: who, what, when, and its UIDs.

    Attributes
    ----------
    subject
        The patient.
    kind
        Chest CT, chest radiograph or brain MR.
    key
        Names the series among the patient's (``"ct"``, ``"xray-admission"`` ...); UIDs derive from it.
    study_date, study_time
        When it was acquired.
    finding
        For chest images: normal or pneumonia (ground-glass opacities).
    matrix
        Rows and columns of each image.
    resolving
        For a follow-up radiograph: the opacities are smaller and fainter than at admission.
    """

    subject: Subject
    kind: SeriesKind
    key: str
    study_date: dt.date
    study_time: str
    finding: CTFinding | None = None
    matrix: int = 512
    resolving: bool = False

    @property
    def modality(self) -> str:
        """DICOM Modality."""
        return {SeriesKind.CHEST_CT: "CT", SeriesKind.CHEST_XRAY: "CR", SeriesKind.BRAIN_MR: "MR"}[self.kind]

    @property
    def n_instances(self) -> int:
        """Number of images in the series."""
        return {SeriesKind.CHEST_CT: CT_SLICES, SeriesKind.CHEST_XRAY: 1, SeriesKind.BRAIN_MR: MR_SLICES}[
            self.kind
        ]

    @property
    def study_uid(self) -> str:
        """StudyInstanceUID (one study per series, as one order gives one accession)."""
        return _uid(self.subject.patient_id, self.key, "study")

    @property
    def series_uid(self) -> str:
        """SeriesInstanceUID."""
        return _uid(self.subject.patient_id, self.key, "series")

    @property
    def accession_number(self) -> str:
        """AccessionNumber: 16 characters derived from the study."""
        return "A" + hashlib.sha256(self.study_uid.encode()).hexdigest()[:15].upper()

    @property
    def study_description(self) -> str:
        """StudyDescription."""
        if self.subject.cohort is Cohort.SCREENING:
            return "CT CHEST SCREENING"
        return {
            SeriesKind.CHEST_CT: "CT CHEST",
            SeriesKind.CHEST_XRAY: "XR CHEST PA",
            SeriesKind.BRAIN_MR: "MR BRAIN",
        }[self.kind]

    @property
    def series_description(self) -> str:
        """SeriesDescription."""
        return {
            SeriesKind.CHEST_CT: f"Chest {CT_SLICE_MM:.1f} mm",
            SeriesKind.CHEST_XRAY: "Chest PA",
            SeriesKind.BRAIN_MR: "T2 TSE axial",
        }[self.kind]


def _uid(*parts: str) -> str:
    """A UID that is always the same for the same parts."""
    return str(generate_uid(prefix=PYDICOM_ROOT_UID, entropy_srcs=["workbench-demo", *parts]))


# -- who is in the hospital ---------------------------------------------------------------------------
def inpatient_subject(patient: DemoPatient) -> Subject:
    """The DICOM view of a roster inpatient."""
    return Subject(
        patient.patient_id,
        patient.name,
        patient.sex,
        patient.birth_date,
        patient.charset.value,
        Cohort.INPATIENT,
    )


def screening_subject(number: int) -> Subject:
    """Screening patient ``number`` (1-based): pseudonymous ID ``SCR-0001`` and name ``SCREENING^0001``."""
    if number < 1:
        raise ValueError(f"screening patient numbers start at 1, got {number}")
    rng = np.random.default_rng([number, 2024])
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 45)))
    return Subject(
        f"{SCREENING_PREFIX}{number:04d}",
        f"SCREENING^{number:04d}",
        "MF"[int(rng.integers(2))],
        birth,
        Charset.ISO_IR_192.value,
        Cohort.SCREENING,
    )


def screening_finding(number: int) -> CTFinding:
    """Whether screening patient ``number`` has pneumonia.

    In each pair (1-2, 3-4, ...) exactly one has, chosen by a seeded coin: every even-sized cohort is
    balanced, the label is not the parity of the ID, and it never depends on the cohort size.
    """
    pair = (number - 1) // 2
    first_has_it = bool(np.random.default_rng([pair, 7]).integers(2))
    is_first = (number - 1) % 2 == 0
    return CTFinding.PNEUMONIA if first_has_it == is_first else CTFinding.NORMAL


def _check_cohort_size(cohort_size: int) -> None:
    if isinstance(cohort_size, bool) or not isinstance(cohort_size, numbers.Integral) or cohort_size < 0:
        raise ValueError(f"cohort_size must be a whole number >= 0, got {cohort_size!r}")


def inpatient_plans() -> list[SeriesPlan]:
    """The series of the twelve roster inpatients, dated within each admission."""
    plans: list[SeriesPlan] = []
    for patient in ROSTER:
        subject = inpatient_subject(patient)
        admitted, discharged = patient.admission_date, patient.discharge_date
        if patient.chest_xray:
            plans.append(
                SeriesPlan(
                    subject,
                    SeriesKind.CHEST_XRAY,
                    "xray-admission",
                    admitted,
                    "101500",
                    finding=patient.ct or CTFinding.NORMAL,
                    matrix=1024,
                )
            )
        if patient.ct is not None:
            # Pneumonia is scanned on the day of admission; other chests the day after.
            day = admitted if patient.ct is CTFinding.PNEUMONIA else admitted + dt.timedelta(days=1)
            plans.append(SeriesPlan(subject, SeriesKind.CHEST_CT, "ct", day, "113000", finding=patient.ct))
        if patient.mr_brain:
            plans.append(
                SeriesPlan(
                    subject,
                    SeriesKind.BRAIN_MR,
                    "mr-brain",
                    admitted + dt.timedelta(days=1),
                    "143000",
                    matrix=MR_MATRIX,
                )
            )
        if patient.chest_xray and patient.ct is CTFinding.PNEUMONIA:
            follow_up = max(admitted, discharged - dt.timedelta(days=2))
            plans.append(
                SeriesPlan(
                    subject,
                    SeriesKind.CHEST_XRAY,
                    "xray-follow-up",
                    follow_up,
                    "091000",
                    finding=CTFinding.PNEUMONIA,
                    matrix=1024,
                    resolving=True,
                )
            )
    return plans


def screening_plans(cohort_size: int = DEFAULT_COHORT_SIZE) -> list[SeriesPlan]:
    """One 256 x 256 x 64 chest CT per screening patient.

    Raises
    ------
    ValueError
        If ``cohort_size`` is negative or not an integer.
    """
    _check_cohort_size(cohort_size)
    plans = []
    for number in range(1, cohort_size + 1):
        subject = screening_subject(number)
        day = dt.date(2023, 4, 3) + dt.timedelta(
            days=int(np.random.default_rng([number, 3]).integers(0, 540))
        )
        plans.append(
            SeriesPlan(
                subject,
                SeriesKind.CHEST_CT,
                "ct",
                day,
                "100000",
                finding=screening_finding(number),
                matrix=256,
            )
        )
    return plans


def plans(cohort_size: int = DEFAULT_COHORT_SIZE) -> list[SeriesPlan]:
    """Every generated series of the demo hospital: inpatients first, then the screening cohort."""
    return inpatient_plans() + screening_plans(cohort_size)


def cohort_labels(cohort_size: int = DEFAULT_COHORT_SIZE) -> pd.DataFrame:
    """Labels of the screening cohort's chest CTs, as a curated label file would give them.

    Parameters
    ----------
    cohort_size
        Number of screening patients (as given to :func:`workbench.imaging.demo.load`).

    Returns
    -------
    pandas.DataFrame
        Columns ``patient_id``, ``study_uid``, ``series_uid``, ``label`` (``"pneumonia"`` or ``"normal"``).

    Raises
    ------
    ValueError
        If ``cohort_size`` is negative or not an integer.
    """
    rows = [
        {
            "patient_id": p.subject.patient_id,
            "study_uid": p.study_uid,
            "series_uid": p.series_uid,
            "label": p.finding.value if p.finding else CTFinding.NORMAL.value,
        }
        for p in screening_plans(cohort_size)
    ]
    return pd.DataFrame(rows, columns=["patient_id", "study_uid", "series_uid", "label"])


# -- anatomy -----------------------------------------------------------------------------------------
def anatomy(plan: SeriesPlan) -> phantoms.ChestAnatomy:
    """The chest of ``plan``'s patient, with opacities for pneumonia (smaller and fainter when resolving)."""
    rng = np.random.default_rng(plan.subject.seed)
    chest = phantoms.ChestAnatomy.random(rng, pneumonia=plan.finding is CTFinding.PNEUMONIA)
    if not plan.resolving:
        return chest
    faded = tuple(
        replace(o, radii=xyz(0.6 * r for r in o.radii), hu=0.5 * (o.hu + phantoms.LUNG))
        for o in chest.opacities
    )
    return replace(chest, opacities=faded)


# -- DICOM -------------------------------------------------------------------------------------------
def datasets(plan: SeriesPlan) -> Iterator[Dataset]:
    """Generate the DICOM datasets of one series, rendered a slab at a time.

    Parameters
    ----------
    plan
        The series.

    Yields
    ------
    pydicom.dataset.Dataset
        One image each, in instance-number order, ready to write (file meta included).
    """
    if plan.kind is SeriesKind.CHEST_CT:
        yield from _ct(plan)
    elif plan.kind is SeriesKind.CHEST_XRAY:
        yield _radiograph(plan)
    else:
        yield from _mr(plan)


def _base(plan: SeriesPlan, sop_class: str, number: int) -> Dataset:
    """Patient, study, series, equipment and SOP common modules of instance ``number`` (1-based)."""
    subject = plan.subject
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = subject.charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = _uid(plan.series_uid, str(number))
    date = plan.study_date.strftime("%Y%m%d")
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = plan.study_time
    ds.AccessionNumber = plan.accession_number
    ds.Modality = plan.modality
    ds.Manufacturer = MANUFACTURER
    ds.InstitutionName = INSTITUTION
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = plan.study_description
    ds.SeriesDescription = plan.series_description
    ds.PatientName = subject.name
    ds.PatientID = subject.patient_id
    ds.PatientBirthDate = subject.birth_date.strftime("%Y%m%d")
    ds.PatientSex = subject.sex
    age = (
        plan.study_date.year
        - subject.birth_date.year
        - ((plan.study_date.month, plan.study_date.day) < (subject.birth_date.month, subject.birth_date.day))
    )
    ds.PatientAge = f"{age:03d}Y"
    ds.StudyInstanceUID = plan.study_uid
    ds.SeriesInstanceUID = plan.series_uid
    ds.StudyID = plan.accession_number[-8:]
    ds.SeriesNumber = {SeriesKind.CHEST_CT: 2, SeriesKind.CHEST_XRAY: 1, SeriesKind.BRAIN_MR: 3}[plan.kind]
    ds.InstanceNumber = number
    ds.AcquisitionNumber = 1
    return ds


def _place_axial(
    ds: Dataset, frame_of_reference: str, corner: float, z: float, pixel: float, thickness: float, step: float
) -> None:
    """Head-first supine axial slice geometry: the first pixel at (corner, corner, z), square pixels."""
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = [round(corner, 4), round(corner, 4), z]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [pixel, pixel]
    ds.SliceThickness = thickness
    ds.SpacingBetweenSlices = step
    ds.SliceLocation = z


def _ct(plan: SeriesPlan) -> Iterator[Dataset]:
    chest = anatomy(plan)
    pixel = CT_FIELD_MM / plan.matrix
    xy = (np.arange(plan.matrix) - (plan.matrix - 1) / 2.0) * pixel
    zs = CT_TOP_Z - CT_SLICE_MM * np.arange(CT_SLICES)
    frame_of_reference = _uid(plan.subject.patient_id, plan.key, "frame-of-reference")
    for start in range(0, CT_SLICES, RENDER_SLAB):
        slab_z = zs[start : start + RENDER_SLAB]
        hu = phantoms.chest_hu(chest, xy, xy, slab_z)
        stored = np.clip(np.rint(hu), -1024, 3071).astype(np.int16) + np.int16(1024)
        for offset, z in enumerate(slab_z):
            number = start + offset + 1
            ds = _base(plan, CTImageStorage, number)
            ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
            ds.BodyPartExamined = "CHEST"
            _place_axial(ds, frame_of_reference, float(xy[0]), float(z), pixel, CT_SLICE_MM, CT_SLICE_MM)
            ds.KVP = 120
            ds.ConvolutionKernel = "STANDARD"
            ds.RescaleIntercept = -1024
            ds.RescaleSlope = 1
            ds.RescaleType = "HU"
            ds.WindowCenter = [-600, 40]
            ds.WindowWidth = [1500, 400]
            ds.WindowCenterWidthExplanation = ["LUNG", "MEDIASTINUM"]
            ds.set_pixel_data(stored[offset], "MONOCHROME2", 16, generate_instance_uid=False)
            yield ds


def _radiograph(plan: SeriesPlan) -> Dataset:
    field = 430.0
    image = phantoms.chest_radiograph(anatomy(plan), size=plan.matrix, field_mm=field)
    ds = _base(plan, ComputedRadiographyImageStorage, 1)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.PatientOrientation = ["L", "F"]
    ds.ImagerPixelSpacing = ds.PixelSpacing = [field / plan.matrix, field / plan.matrix]
    ds.KVP = 120
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    ds.set_pixel_data(image, "MONOCHROME2", 12, generate_instance_uid=False)
    return ds


def _mr(plan: SeriesPlan) -> Iterator[Dataset]:
    xy = (np.arange(plan.matrix) - (plan.matrix - 1) / 2.0) * MR_PIXEL_MM
    step = MR_SLICE_MM + MR_GAP_MM
    zs = 95.0 - step * np.arange(MR_SLICES)
    volume = phantoms.brain_t2(plan.subject.seed, xy, xy, zs)
    frame_of_reference = _uid(plan.subject.patient_id, plan.key, "frame-of-reference")
    for index, z in enumerate(zs):
        ds = _base(plan, MRImageStorage, index + 1)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
        ds.BodyPartExamined = "BRAIN"
        _place_axial(ds, frame_of_reference, float(xy[0]), float(z), MR_PIXEL_MM, MR_SLICE_MM, step)
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "SK"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime = 4000
        ds.EchoTime = 95
        ds.EchoTrainLength = 16
        ds.MagneticFieldStrength = 1.5
        ds.WindowCenter = 1000
        ds.WindowWidth = 2000
        ds.set_pixel_data(volume[index], "MONOCHROME2", 12, generate_instance_uid=False)
        yield ds
