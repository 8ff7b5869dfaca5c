"""The load path never widens a query, never leaves its folder, never mixes two patients; bad tags."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.imaging.stored import StoredSeries
from workbench.errors import DicomDataError, NotFoundError
from workbench.imaging.dicomweb import DicomWebArchive
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.orthanc import OrthancArchive
from workbench.imaging.query import QueryError
from workbench.testing.synthetic import ct_series

pytestmark = pytest.mark.orthanc


@pytest.fixture
def dicomweb(orthanc: LocalOrthanc) -> DicomWebArchive:
    return DicomWebArchive(f"{orthanc.url}/dicom-web", orthanc.username, orthanc.password)


@pytest.mark.parametrize("kind", ["orthanc", "dicomweb"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [("", "is empty"), ("  ", "is empty"), ("1.2.3\\1.2.4", "several values"), ("A\\B", "several values"),
     ("1.2.*", "not a DICOM UID"), ("../x", "not a DICOM UID"), ("1." + "2" * 70, "longer than 64")],
)
def test_a_uid_argument_is_exactly_one_uid(
    kind: str, value: str, problem: str, archive: OrthancArchive, dicomweb: DicomWebArchive, tmp_path: Path
) -> None:
    target = archive if kind == "orthanc" else dicomweb
    calls = [
        lambda: target.load_series(value, progress=False),
        lambda: target.download_series(value, tmp_path / "out"),
        lambda: target.series(series_uid=value),
        lambda: target.studies(study_uid=value),
        lambda: target.series(study_uid=[value]),
        lambda: target.explorer_url(value),
    ]
    for call in calls:
        with pytest.raises(QueryError, match=re.escape(problem)):
            call()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_list_of_uids_still_filters_searches(archive: OrthancArchive, synthetic_ct: StoredSeries) -> None:
    found = archive.series(series_uid=[synthetic_ct.series_uid, "1.2.3.999"])
    assert found.series_uid.tolist() == [synthetic_ct.series_uid]


def _stored_with_sop_uid(orthanc: LocalOrthanc, sop_uid: str, patient_id: str) -> tuple[str, list]:
    datasets = ct_series(3, 8, 8, patient_id=patient_id, shuffle=False)
    datasets[1].SOPInstanceUID = sop_uid
    datasets[1].file_meta.MediaStorageSOPInstanceUID = sop_uid
    orthanc.client().upload(datasets, progress=False)
    return str(datasets[0].SeriesInstanceUID), datasets


@pytest.mark.parametrize("kind", ["orthanc", "dicomweb"])
def test_download_never_writes_outside_its_folder(
    kind: str, orthanc: LocalOrthanc, archive: OrthancArchive, dicomweb: DicomWebArchive, tmp_path: Path
) -> None:
    evil = "../../../../escaped"
    series_uid, _ = _stored_with_sop_uid(orthanc, evil, f"IMG-EVIL-{kind}")
    target = archive if kind == "orthanc" else dicomweb
    folder = tmp_path / "a" / "b" / "c" / "d" / "out"
    message = f"instance {evil!r}: its SOPInstanceUID is not a DICOM UID"
    with pytest.raises(DicomDataError, match=re.escape(message)):
        target.download_series(series_uid, folder)
    assert not list(tmp_path.rglob("escaped*"))
    assert not folder.exists() or not any(folder.iterdir())
    cache_root = target.instance_cache.root  # type: ignore[union-attr]
    assert not list(cache_root.parent.rglob("escaped*"))


@pytest.mark.parametrize("kind", ["orthanc", "dicomweb"])
def test_a_non_uid_instance_is_a_named_bad_instance(
    kind: str, orthanc: LocalOrthanc, archive: OrthancArchive, dicomweb: DicomWebArchive
) -> None:
    series_uid, _ = _stored_with_sop_uid(orthanc, "abc", f"IMG-ABC-{kind}")
    target = archive if kind == "orthanc" else dicomweb
    with pytest.raises(DicomDataError, match="instance 'abc': its SOPInstanceUID is not a DICOM UID"):
        target.load_series(series_uid, progress=False)
    with pytest.warns(UserWarning, match="skipped 1 bad instance"):
        volume = target.load_series(series_uid, progress=False, skip_bad=True)
    assert volume.array.shape == (2, 8, 8)
    assert [s["sop_instance_uid"] for s in volume.metadata["skipped"]] == ["abc"]


def test_same_uids_under_two_patients(orthanc: LocalOrthanc, archive: OrthancArchive, dicomweb) -> None:
    first = ct_series(4, 8, 8, patient_id="IMG-TWIN-A", seed=3, shuffle=False)
    second = [copy.deepcopy(ds) for ds in first]
    for ds, original in zip(second, first, strict=True):
        ds.PatientID = "IMG-TWIN-B"
        ds.PixelData = (np.frombuffer(original.PixelData, dtype=np.int16) + 7).astype(np.int16).tobytes()
    orthanc.client().upload([*first, *second], progress=False)
    try:
        series_uid = str(first[0].SeriesInstanceUID)
        message = (
            f"series {series_uid} is stored under 2 patients on {archive.url} (PatientID 'IMG-TWIN-A' and "
            f"'IMG-TWIN-B'): the same UIDs were stored for different patients and the archive keeps them "
            f"apart; choose one with load_series('{series_uid}', patient_id='IMG-TWIN-A')"
        )
        with pytest.raises(DicomDataError, match=re.escape(message)):
            archive.load_series(series_uid, progress=False)
        a = archive.load_series(series_uid, patient_id="IMG-TWIN-A", progress=False)
        b = archive.load_series(series_uid, patient_id="IMG-TWIN-B", progress=False)
        assert a.metadata["patient_id"] == "IMG-TWIN-A" and b.metadata["patient_id"] == "IMG-TWIN-B"
        np.testing.assert_array_equal(b.array, a.array + 7)
        with pytest.raises(NotFoundError, match=r"of patient 'NOBODY' not found.*'IMG-TWIN-A', 'IMG-TWIN-B'"):
            archive.load_series(series_uid, patient_id="NOBODY", progress=False)
        with pytest.raises(DicomDataError, match=re.escape("is stored under 2 patients")):
            dicomweb.load_series(series_uid, progress=False)
    finally:  # other tests assume one patient per study UID
        client = orthanc.client()
        for patient in ("IMG-TWIN-A", "IMG-TWIN-B"):
            query = {"Level": "Patient", "Query": {"PatientID": patient}}
            for orthanc_id in client.post_json("/tools/find", query):
                client.request("DELETE", f"/patients/{orthanc_id}")


def _one_bad(orthanc: LocalOrthanc, patient_id: str, spoil) -> tuple[str, str]:
    datasets = ct_series(4, 8, 8, patient_id=patient_id, shuffle=False)
    spoil(datasets[2])
    orthanc.client().upload(datasets, progress=False)
    return str(datasets[0].SeriesInstanceUID), str(datasets[2].SOPInstanceUID)


def _set_raw(keyword: str, value: bytes):
    """Store a tag's bytes as given (pydicom would refuse to convert them)."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.dataelem import RawDataElement

    def spoil(ds: pydicom.Dataset) -> None:
        tag = tag_for_keyword(keyword)
        ds[tag] = RawDataElement(pydicom.tag.Tag(tag), dictionary_VR(tag), len(value), value, 0, False, True)

    return spoil


@pytest.mark.parametrize(
    ("name", "spoil", "reason"),
    [
        ("rows", lambda ds: delattr(ds, "Rows"), "has no Rows"),
        ("frames", _set_raw("NumberOfFrames", b"x "), "has a malformed NumberOfFrames 'x'"),
        ("representation", lambda ds: setattr(ds, "PixelRepresentation", 7),
         "has PixelRepresentation 7; DICOM allows only 0, 1"),
    ],
)
def test_one_bad_tag_is_one_named_bad_instance(
    name: str, spoil, reason: str, orthanc: LocalOrthanc, archive: OrthancArchive
) -> None:
    series_uid, bad = _one_bad(orthanc, f"IMG-TAG-{name}", spoil)
    with pytest.raises(DicomDataError, match=re.escape(f"instance {bad} {reason}")):
        archive.load_series(series_uid, progress=False)
    with pytest.warns(UserWarning, match="skipped 1 bad instance"):
        volume = archive.load_series(series_uid, progress=False, skip_bad=True)
    assert volume.array.shape == (3, 8, 8)
    assert volume.metadata["skipped"][0]["sop_instance_uid"] == bad


def test_a_malformed_window_is_ignored_with_a_warning(orthanc: LocalOrthanc, archive: OrthancArchive) -> None:
    from workbench.imaging import BadTagWarning

    def spoil_all(ds: pydicom.Dataset) -> None:
        _set_raw("WindowCenter", b"abc ")(ds)

    datasets = ct_series(3, 8, 8, patient_id="IMG-TAG-window", shuffle=False)
    for ds in datasets:
        spoil_all(ds)
    orthanc.client().upload(datasets, progress=False)
    with pytest.warns(BadTagWarning, match="WindowCenter 'abc' is not a number; ignored"):
        volume = archive.load_series(str(datasets[0].SeriesInstanceUID), progress=False)
    assert volume.array.shape == (3, 8, 8) and volume.metadata["window_center"] is None
    assert volume.metadata["skipped"] == []


def test_one_lookup_per_load(synthetic_ct: StoredSeries, archive: OrthancArchive) -> None:
    """Warm: one series lookup. Cold: that lookup, the study's UID and the WADO-RS answer; never two finds."""
    assert archive.has_dicomweb  # asked once per archive (GET /plugins), not per load
    sent: list[tuple[str, str]] = []
    original = archive.client.request

    def counting(method: str, path: str, **kwargs: object):
        sent.append((method, path.split("?")[0]))
        return original(method, path, **kwargs)

    archive.client.request = counting  # type: ignore[method-assign]
    archive.load_series(synthetic_ct.series_uid, progress=False)
    cold = list(sent)
    assert [m for m, p in cold if p == "/tools/find"] == ["POST"]
    assert len(cold) == 3 and cold[2][1].startswith("/dicom-web/studies/")
    sent.clear()
    archive.load_series(synthetic_ct.series_uid, progress=False)
    assert sent == [("POST", "/tools/find")]


@pytest.mark.parametrize("found_by", ["load", "studies", "series"])
def test_a_known_study_uid_is_not_asked_again(
    found_by: str, synthetic_ct: StoredSeries, archive: OrthancArchive
) -> None:
    """A cold load of a series whose study was seen (loaded, searched): the lookup and the WADO-RS only."""
    if found_by == "load":
        archive.load_series(synthetic_ct.series_uid, progress=False)
    elif found_by == "studies":
        archive.studies(patient_id="IMG-CT-01")
    else:
        archive.series(patient_id="IMG-CT-01")
    archive.instance_cache.clear()  # type: ignore[union-attr]
    archive.volume_cache.clear()  # type: ignore[union-attr]
    assert archive.has_dicomweb  # asked once per archive
    sent: list[str] = []
    original = archive.client.request

    def counting(method: str, path: str, **kwargs: object):
        sent.append(path.split("?")[0])
        return original(method, path, **kwargs)

    archive.client.request = counting  # type: ignore[method-assign]
    volume = archive.load_series(synthetic_ct.series_uid, progress=False)
    wado = f"/dicom-web/studies/{synthetic_ct.study_uid}/series/{synthetic_ct.series_uid}"
    assert sent == ["/tools/find", wado]
    assert volume.metadata["study_uid"] == synthetic_ct.study_uid


def test_peak_memory_of_a_cold_load(orthanc: LocalOrthanc, archive: OrthancArchive) -> None:
    """Files are dropped once their pixels are in the preallocated array: peak <= 1.3x the array."""
    import gc
    import tracemalloc

    datasets = ct_series(40, 128, 128, patient_id="IMG-MEMORY")
    orthanc.client().upload(datasets, progress=False)
    series_uid = str(datasets[0].SeriesInstanceUID)
    del datasets
    gc.collect()
    tracemalloc.start()
    try:
        volume = archive.load_series(series_uid, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert volume.array.shape == (40, 128, 128)
    assert peak <= 1.3 * volume.array.nbytes, peak / volume.array.nbytes
