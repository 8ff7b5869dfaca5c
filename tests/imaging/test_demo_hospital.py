"""The demo hospital's plan and DICOM datasets, without a server."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pydicom
import pytest
from pydicom.uid import UID

from workbench.imaging.demo import cohort_labels, hospital
from workbench.imaging.demo.hospital import SeriesKind
from workbench.imaging.demo.roster import ROSTER, Charset, CTFinding


def _roundtrip(ds: pydicom.Dataset) -> tuple[bytes, pydicom.Dataset]:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue(), pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def _plan(patient_number: int, kind: SeriesKind) -> hospital.SeriesPlan:
    patient_id = ROSTER[patient_number - 1].patient_id
    return next(
        p for p in hospital.inpatient_plans() if p.subject.patient_id == patient_id and p.kind is kind
    )


def test_every_inpatient_has_the_imaging_the_roster_names() -> None:
    plans = hospital.inpatient_plans()
    for patient in ROSTER:
        mine = [p for p in plans if p.subject.patient_id == patient.patient_id]
        kinds = {p.kind for p in mine}
        assert (SeriesKind.CHEST_CT in kinds) == (patient.ct is not None)
        assert (SeriesKind.CHEST_XRAY in kinds) == patient.chest_xray
        assert (SeriesKind.BRAIN_MR in kinds) == patient.mr_brain
        for plan in mine:
            assert patient.admission_date <= plan.study_date <= patient.discharge_date
            if plan.kind is SeriesKind.CHEST_CT:
                assert plan.finding is patient.ct


def test_uids_are_stable_unique_and_valid() -> None:
    first = hospital.plans(6)
    again = hospital.plans(6)
    uids = [p.series_uid for p in first] + [p.study_uid for p in first]
    assert uids == [p.series_uid for p in again] + [p.study_uid for p in again]
    assert len(set(uids)) == len(uids)
    assert all(UID(u).is_valid for u in uids)


def test_screening_cohort_is_balanced_and_independent_of_its_size() -> None:
    small, large = cohort_labels(8), cohort_labels(40)
    assert list(small.columns) == ["patient_id", "study_uid", "series_uid", "label"]
    assert list(small.patient_id) == [f"SCR-{i:04d}" for i in range(1, 9)]
    assert (small.label == "pneumonia").sum() == 4 and (large.label == "pneumonia").sum() == 20
    assert small.equals(large.head(8))
    labels = "".join("P" if v == "pneumonia" else "." for v in large.label)
    assert labels not in ("P." * 20, ".P" * 20), "labels must not be the parity of the ID"
    assert cohort_labels(0).empty


@pytest.mark.parametrize("bad", [-1, 2.5, "8", True])
def test_cohort_size_is_validated(bad: object) -> None:
    with pytest.raises(ValueError, match="cohort_size"):
        cohort_labels(bad)  # type: ignore[arg-type]


def test_inpatient_chest_ct_is_a_proper_ct_series() -> None:
    plan = _plan(1, SeriesKind.CHEST_CT)  # Yamada: pneumonia, ISO 2022 IR 87
    slices = list(hospital.datasets(plan))
    assert len(slices) == plan.n_instances >= 64
    read = [_roundtrip(ds)[1] for ds in (slices[0], slices[1], slices[40])]
    first, second, middle = read
    assert first.SOPClassUID == pydicom.uid.CTImageStorage and first.Modality == "CT"
    assert (first.Rows, first.Columns) == (512, 512)
    assert first.pixel_array.dtype == np.int16 and first.PixelRepresentation == 1
    assert (float(first.RescaleSlope), float(first.RescaleIntercept)) == (1.0, -1024.0)
    assert [float(v) for v in first.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    step = float(first.ImagePositionPatient[2]) - float(second.ImagePositionPatient[2])
    assert (
        step == pytest.approx(float(first.SpacingBetweenSlices)) == pytest.approx(float(first.SliceThickness))
    )
    assert first.FrameOfReferenceUID == middle.FrameOfReferenceUID
    assert first.StudyInstanceUID == plan.study_uid and first.AccessionNumber == plan.accession_number
    assert first.BodyPartExamined == "CHEST" and first.InstitutionName == hospital.INSTITUTION
    assert len({ds.SOPInstanceUID for ds in slices}) == len(slices)
    hu = middle.pixel_array * float(middle.RescaleSlope) + float(middle.RescaleIntercept)
    assert hu[0, 0] < -900  # corner: air
    assert hu.max() > 300  # bone
    assert ((hu > -950) & (hu < -700)).mean() > 0.05  # lung


def test_ct_dates_and_times_fit_the_admission() -> None:
    plan = _plan(2, SeriesKind.CHEST_CT)
    ds = next(hospital.datasets(plan))
    patient = ROSTER[1]
    assert (
        patient.admission_date
        <= dt.datetime.strptime(ds.StudyDate, "%Y%m%d").date()
        <= patient.discharge_date
    )


def test_japanese_names_are_encoded_with_the_patients_character_set() -> None:
    for patient in (ROSTER[0], ROSTER[1]):
        plan = next(p for p in hospital.inpatient_plans() if p.subject.patient_id == patient.patient_id)
        raw, read = _roundtrip(next(hospital.datasets(plan)))
        _alphabetic, ideographic, phonetic = patient.name.split("=")
        assert str(read.PatientName) == patient.name
        assert read.PatientName.ideographic == ideographic and read.PatientName.phonetic == phonetic
        if patient.charset is Charset.ISO_2022_IR_87:
            assert read.SpecificCharacterSet == ["", "ISO 2022 IR 87"]
            assert b"\x1b$B" in raw and ideographic.encode("utf-8") not in raw
            assert ideographic.split("^")[0].encode("iso2022_jp") in raw
        else:
            assert read.SpecificCharacterSet == "ISO_IR 192"
            assert ideographic.encode("utf-8") in raw


def test_chest_radiograph_and_brain_mr() -> None:
    (xray,) = hospital.datasets(_plan(1, SeriesKind.CHEST_XRAY))
    _, read = _roundtrip(xray)
    assert read.Modality == "CR" and read.SOPClassUID == pydicom.uid.ComputedRadiographyImageStorage
    assert read.pixel_array.shape == (1024, 1024) and read.pixel_array.dtype == np.uint16
    assert read.ViewPosition == "PA" and read.BitsStored == 12
    mr = list(hospital.datasets(_plan(4, SeriesKind.BRAIN_MR)))
    assert len(mr) == hospital.MR_SLICES
    _, first = _roundtrip(mr[0])
    assert first.Modality == "MR" and first.SOPClassUID == pydicom.uid.MRImageStorage
    assert float(first.SpacingBetweenSlices) == hospital.MR_SLICE_MM + hospital.MR_GAP_MM
    assert first.BodyPartExamined == "BRAIN"


def test_follow_up_radiograph_shows_resolving_opacities() -> None:
    patient_id = ROSTER[0].patient_id
    xrays = [
        p
        for p in hospital.inpatient_plans()
        if p.subject.patient_id == patient_id and p.kind is SeriesKind.CHEST_XRAY
    ]
    admission, follow_up = sorted(xrays, key=lambda p: p.study_date)
    assert follow_up.resolving and not admission.resolving
    before, after = hospital.anatomy(admission), hospital.anatomy(follow_up)
    assert len(before.opacities) == len(after.opacities) > 0
    for b, a in zip(before.opacities, after.opacities, strict=True):
        assert max(a.radii) < max(b.radii) and a.hu < b.hu


def test_screening_ct_is_smaller_but_covers_the_same_field() -> None:
    plan = hospital.screening_plans(1)[0]
    assert plan.finding is CTFinding.PNEUMONIA or plan.finding is CTFinding.NORMAL
    first = next(hospital.datasets(plan))
    assert (first.Rows, first.Columns) == (256, 256)
    assert float(first.PixelSpacing[0]) * 256 == pytest.approx(hospital.CT_FIELD_MM)
    assert str(first.PatientName) == "SCREENING^0001" and first.PatientID == "SCR-0001"
