"""Predictions and masks written back to the real Orthanc as DICOM SR / SEG, and found again."""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from workbench.ml.writeback import (
    finding_code,
    prediction_sr,
    read_predictions,
    segmentation,
    write_prediction,
    write_segmentation,
)

PATIENT_ID = "ML-TEST-0001"


def test_prediction_sr_references_every_source_instance(make_ct):
    source = make_ct(n_slices=4)
    sr = prediction_sr(source, finding="pneumonia", probability=0.91, algorithm_name="DenseNet121 GGO",
                       algorithm_version="run-7")
    assert sr.Modality == "SR" and sr.SOPClassUID == pydicom.uid.Comprehensive3DSRStorage
    assert sr.StudyInstanceUID == source[0].StudyInstanceUID and sr.PatientID == PATIENT_ID
    assert sr.SeriesInstanceUID != source[0].SeriesInstanceUID
    buffer = io.BytesIO()
    sr.save_as(buffer)
    sr = hd.sr.srread(io.BytesIO(buffer.getvalue()))  # as a viewer would read the file
    assert {uid for _, _, uid, _ in sr.get_evidence()} == {ds.SOPInstanceUID for ds in source}
    group = sr.content.get_image_measurement_groups()[0]
    assert group.finding_type == finding_code("Pneumonia")
    assert group.finding_type == hd.sr.CodedConcept("233604007", "SCT", "Pneumonia")
    referenced = {image.referenced_sop_instance_uid for image in group.source_images}
    assert referenced == {ds.SOPInstanceUID for ds in source}
    (probability,) = group.get_measurements(name=codes.DCM.Probability)
    assert probability.value == pytest.approx(0.91) and probability.unit == codes.UCUM.NoUnits


def test_japanese_names_survive_in_utf8(make_ct):
    buffer = io.BytesIO()
    source = make_ct(n_slices=1)[0]
    source.SpecificCharacterSet = ["", "ISO 2022 IR 87"]  # as the demo inpatients: JIS X 0208 escapes
    source.PatientName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    source.save_as(buffer, enforce_file_format=True)
    stored = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    sr = prediction_sr([stored], finding="normal", probability=0.6, algorithm_name="m", algorithm_version="1")
    buffer = io.BytesIO()
    sr.save_as(buffer)
    read = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    assert read.SpecificCharacterSet == "ISO_IR 192"
    assert read.PatientName.ideographic == "山田^太郎" and read.PatientName.phonetic == "やまだ^たろう"


def test_unknown_class_names_get_a_local_code():
    assert finding_code("Normal") == codes.SCT.Normal
    code = finding_code("emphysema")
    assert (code.value, code.scheme_designator, code.meaning) == ("emphysema", "99WORKBENCH", "emphysema")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"probability": 1.2}, r"probability must be within \[0, 1\]"),
        ({"finding": " "}, "non-empty class name"),
    ],
)
def test_prediction_sr_rejects_bad_values(make_ct, kwargs, message):
    arguments = {"finding": "normal", "probability": 0.5, "algorithm_name": "m", "algorithm_version": "1"}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        prediction_sr(make_ct(n_slices=2), **arguments)


def test_prediction_sr_needs_one_source_series(make_ct):
    with pytest.raises(ValueError, match="must reference the series"):
        prediction_sr([], finding="normal", probability=0.5, algorithm_name="m", algorithm_version="1")
    with pytest.raises(ValueError, match="belong to 2 series"):
        prediction_sr(make_ct(n_slices=2) + make_ct(n_slices=2), finding="normal", probability=0.5,
                      algorithm_name="m", algorithm_version="1")


@pytest.mark.orthanc
def test_prediction_round_trip_through_the_archive(archive, ml_series):
    sr_uid = write_prediction(archive, ml_series.ct, finding="pneumonia", probability=0.87,
                              algorithm_name="DenseNet121 GGO", algorithm_version="test")
    assert ml_series.patient_id == PATIENT_ID
    found = archive.series(modality="SR", patient_id=PATIENT_ID)
    assert sr_uid in found["series_uid"].tolist()
    table = read_predictions(archive, patient_id=PATIENT_ID)
    row = table.set_index("sr_series_uid").loc[sr_uid]
    assert row["source_series_uid"] == ml_series.ct
    assert row["finding"] == "Pneumonia" and row["finding_code"] == "SCT:233604007"
    assert row["probability"] == pytest.approx(0.87)
    assert row["algorithm"] == "DenseNet121 GGO test"
    assert row["patient_id"] == PATIENT_ID
    assert row["study_uid"] == ml_series.ct_datasets[0].StudyInstanceUID


@pytest.mark.orthanc
def test_mask_round_trip_as_seg(archive, ml_series, tmp_path):
    volume = archive.load_series(ml_series.ct, progress=False)
    mask = np.zeros(volume.array.shape, dtype=bool)
    mask[3:7, 5:12, 4:15] = True
    seg_uid = write_segmentation(archive, ml_series.ct, mask, label="ground glass opacity",
                                 algorithm_name="threshold", algorithm_version="1")
    assert seg_uid in archive.series(modality="SEG", patient_id=PATIENT_ID)["series_uid"].tolist()
    (path,) = archive.download_series(seg_uid, tmp_path)
    seg = hd.seg.segread(path)
    assert seg.get_segment_description(1).segmented_property_type == codes.DCM.GroundGlassOpacity
    read_back = seg.get_pixels_by_source_instance(
        volume.metadata["sop_instance_uids"], segment_numbers=[1], assert_missing_frames_are_empty=True
    )
    np.testing.assert_array_equal(read_back[..., 0] > 0, mask)


def test_segmentation_rejects_a_mask_of_the_wrong_shape(make_ct):
    source = make_ct(n_slices=3)
    with pytest.raises(ValueError, match=r"\(3, 24, 20\) does not match the source series \(3, 20, 24\)"):
        segmentation(source, np.zeros((3, 24, 20)), label="x", algorithm_name="a", algorithm_version="1")
    with pytest.raises(ValueError, match="binary"):
        segmentation(source, np.full((3, 20, 24), 2), label="x", algorithm_name="a", algorithm_version="1")


# -- ordinary sources: Type 2 attributes missing, stored \ISO 2022 IR 87 (#15.3) ----------------------------
def _ordinary(make_ct, n_slices=3):
    """Source headers as real exports give them: Type 2 attributes left out, names in JIS X 0208 escapes."""
    out = []
    for ds in make_ct(n_slices=n_slices):
        for keyword in ("PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID", "StudyTime",
                        "ReferringPhysicianName"):
            delattr(ds, keyword)
        ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
        ds.PatientName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
        ds.PatientID = "ML-ORDINARY-1"
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append(buffer.getvalue())
    return out


def _dciodvfy_errors(path):
    """dciodvfy's (Debian dicom3tools) error lines about a written file."""
    import shutil
    import subprocess

    assert shutil.which("dciodvfy"), "dciodvfy is missing: apt-get install dicom3tools (make setup)"
    result = subprocess.run(["dciodvfy", "-new", str(path)], capture_output=True, text=True, check=False)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


def test_sr_and_seg_of_ordinary_sources_pass_dciodvfy(make_ct, tmp_path):
    headers = [pydicom.dcmread(io.BytesIO(b), stop_before_pixels=True) for b in _ordinary(make_ct)]
    mask = np.zeros((3, 20, 24), dtype=bool)
    mask[1, 4:9, 5:11] = True
    sr = prediction_sr(headers, finding="normal", probability=0.4, algorithm_name="m", algorithm_version="1")
    seg = segmentation(headers, mask, label="ground glass opacity", algorithm_name="a", algorithm_version="1")
    for name, obj in (("sr", sr), ("seg", seg)):
        path = tmp_path / f"{name}.dcm"
        obj.save_as(path)
        assert _dciodvfy_errors(path) == [], name
        read = pydicom.dcmread(path)
        assert read.SpecificCharacterSet == "ISO_IR 192"
        assert read.PatientName.ideographic == "山田^太郎"
        for keyword in ("PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID", "StudyTime"):
            assert keyword in read and read.get(keyword) in ("", None), keyword
    assert "PatientBirthDate" not in headers[0]  # the caller's datasets are left as they were
    assert headers[0].SpecificCharacterSet == ["", "ISO 2022 IR 87"]


@pytest.mark.orthanc
def test_write_back_on_an_ordinary_stored_series(archive, make_ct, tmp_path):
    files = _ordinary(make_ct, n_slices=4)
    archive.store(files, progress=False)
    series_uid = str(pydicom.dcmread(io.BytesIO(files[0])).SeriesInstanceUID)
    sr_uid = write_prediction(archive, series_uid, finding="normal", probability=0.2,
                              algorithm_name="m", algorithm_version="1")
    volume = archive.load_series(series_uid, progress=False)
    mask = np.zeros(volume.array.shape, dtype=bool)
    mask[1:3, 2:8, 3:9] = True
    seg_uid = write_segmentation(archive, series_uid, mask, label="ground glass opacity",
                                 algorithm_name="threshold", algorithm_version="1")
    for uid in (sr_uid, seg_uid):
        (path,) = archive.download_series(uid, tmp_path / uid)
        assert _dciodvfy_errors(path) == []
        assert pydicom.dcmread(path).PatientName.ideographic == "山田^太郎"


def test_the_same_prediction_makes_the_same_sr_and_another_one_a_new_sr(make_ct):
    sources = make_ct(n_slices=3)
    args = {"finding": "pneumonia", "algorithm_name": "m", "algorithm_version": "seed0"}
    first = prediction_sr(sources, probability=0.8712345, **args)
    again = prediction_sr(sources, probability=0.87123449, **args)
    other = prediction_sr(sources, probability=0.55, **args)
    assert (first.SeriesInstanceUID, first.SOPInstanceUID) == (again.SeriesInstanceUID, again.SOPInstanceUID)
    assert first.SeriesInstanceUID != other.SeriesInstanceUID and first.SOPInstanceUID != other.SOPInstanceUID
    assert pydicom.uid.UID(first.SOPInstanceUID).is_valid


@pytest.mark.orthanc
def test_writing_the_same_prediction_again_stores_nothing_new(archive, ml_series):
    args = {"finding": "normal", "algorithm_name": "DenseNet121 GGO", "algorithm_version": "rerun"}
    before = set(archive.series(modality="SR", patient_id=PATIENT_ID)["series_uid"])
    first = write_prediction(archive, ml_series.ct, probability=0.25, **args)
    again = write_prediction(archive, ml_series.ct, probability=0.25, **args)
    assert first == again
    after = archive.series(modality="SR", patient_id=PATIENT_ID)
    assert set(after["series_uid"]) - before == {first}
    assert len(archive.instances(series_uid=first)) == 1
    changed = write_prediction(archive, ml_series.ct, probability=0.75, **args)
    assert changed != first
