"""The study modalities an Orthanc search looked up are remembered between sessions, and verified."""

from __future__ import annotations

import json
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workbench import config
from workbench.imaging.cache import WRITER, CacheWarning, clear_all, scan
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.orthanc import OrthancArchive
from workbench.imaging.search_memo import FILE_NAME, StudyModalities
from workbench.testing.synthetic import ct_series, tiny_study

pytestmark = pytest.mark.orthanc


BASES = {
    "test_a_new_session_reuses_the_modalities": 98_001,
    "test_a_study_that_changed_is_looked_up_again": 98_002,
    "test_an_unreadable_file_is_replaced": 98_003,
    "test_without_cache_nothing_is_written": 98_004,
    "test_the_file_is_counted_and_cleared_with_the_caches": 98_005,
}


def _series_lookups(archive: OrthancArchive) -> list[str]:
    """Record the requests of ``archive`` that look series up (a listing or a series-level find)."""
    seen: list[str] = []
    request = archive.client.request

    def recording(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("json") or {}
        if path == "/series" or (path == "/tools/find" and body.get("Level") == "Series"):
            seen.append(f"{method} {path}")
        return request(method, path, *args, **kwargs)

    archive.client.request = recording  # type: ignore[method-assign]
    return seen


@pytest.fixture
def patient(orthanc: LocalOrthanc, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A patient with a one-series CT study and a CT+MR study; yields (patient ID, the second study's UID)."""
    index = BASES[request.node.name]  # tiny_study's UIDs follow its index: one per test
    patient_id = f"IMG-MEMO-{index}"
    one = tiny_study(index, patient_id=patient_id)
    two = ct_series(1, 4, 4, patient_id=patient_id)
    mr = ct_series(1, 4, 4, patient_id=patient_id, study_uid=str(two[0].StudyInstanceUID))
    mr[0].Modality = "MR"
    orthanc.client().upload([one, *two, *mr], progress=False)
    yield patient_id, str(two[0].StudyInstanceUID)


def _memo_file(orthanc: LocalOrthanc) -> Path:
    from workbench.imaging.cache import server_key

    return config.cache_dir() / "search" / server_key(orthanc.url, orthanc.username) / FILE_NAME


def test_a_new_session_reuses_the_modalities(orthanc: LocalOrthanc, patient: tuple[str, str]) -> None:
    patient_id, _ = patient
    first = OrthancArchive(orthanc.client())
    looked_up = _series_lookups(first)
    expected = sorted(first.studies(patient_id=patient_id).modalities)
    assert expected == ["CT", "CT\\MR"] and looked_up  # the first session looks them up
    WRITER.wait_all()
    path = _memo_file(orthanc)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    second = OrthancArchive(orthanc.client())
    looked_up = _series_lookups(second)
    assert sorted(second.studies(patient_id=patient_id).modalities) == expected
    assert looked_up == []  # from the file: no series walked


def test_a_study_that_changed_is_looked_up_again(orthanc: LocalOrthanc, patient: tuple[str, str]) -> None:
    patient_id, study_uid = patient
    OrthancArchive(orthanc.client()).studies(patient_id=patient_id)
    WRITER.wait_all()
    pet = ct_series(1, 4, 4, patient_id=patient_id, study_uid=study_uid)
    pet[0].Modality = "PT"
    orthanc.client().upload(pet, progress=False)  # a new series: the study's version changes

    later = OrthancArchive(orthanc.client())
    looked_up = _series_lookups(later)
    table = later.studies(patient_id=patient_id).set_index("study_uid")
    assert table.modalities[study_uid] == "CT\\MR\\PT"
    assert looked_up  # not taken from the file


def test_an_unreadable_file_is_replaced(orthanc: LocalOrthanc, patient: tuple[str, str]) -> None:
    patient_id, _ = patient
    OrthancArchive(orthanc.client()).studies(patient_id=patient_id)
    WRITER.wait_all()
    path = _memo_file(orthanc)
    path.write_text('{"format": 1, "studies": {"x": ["not a list", 3]}}', encoding="utf-8")

    archive = OrthancArchive(orthanc.client())
    with pytest.warns(CacheWarning, match="unreadable"):
        table = archive.studies(patient_id=patient_id)
    assert sorted(table.modalities) == ["CT", "CT\\MR"]
    WRITER.wait_all()
    studies = json.loads(path.read_text(encoding="utf-8"))["studies"]
    assert "x" not in studies and len(studies) >= 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read back without a warning
        assert StudyModalities(path.parent.name).get("missing", ("v",)) is None


def test_without_cache_nothing_is_written(orthanc: LocalOrthanc, patient: tuple[str, str]) -> None:
    patient_id, _ = patient
    OrthancArchive(orthanc.client(), cache=False).studies(patient_id=patient_id)
    WRITER.wait_all()
    assert not _memo_file(orthanc).exists()


def test_the_file_is_counted_and_cleared_with_the_caches(
    orthanc: LocalOrthanc, patient: tuple[str, str]
) -> None:
    patient_id, _ = patient
    OrthancArchive(orthanc.client()).studies(patient_id=patient_id)
    WRITER.wait_all()
    path = _memo_file(orthanc)
    assert [entry.kind for entry in scan() if path in entry.paths] == ["memo"]
    ours_not = path.parent / "notes.txt"  # a file the workbench did not make stays
    ours_not.write_text("mine", encoding="utf-8")
    assert clear_all() > 0
    assert not path.exists() and ours_not.exists()
