"""Loading the demo hospital into a real Orthanc, and ``workbench demo-data``."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from workbench.cli import main
from workbench.errors import ArchiveError
from workbench.imaging.demo import hospital, load, loader
from workbench.imaging.demo.roster import ROSTER
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.orthanc import OrthancArchive

pytestmark = pytest.mark.orthanc


def _cohort_size(demo_hospital: pd.DataFrame) -> int:
    """The screening-cohort size the session's ``demo_hospital`` fixture loaded."""
    return int((demo_hospital.cohort == "screening").sum())


def _counts(orthanc: LocalOrthanc) -> dict[str, Any]:
    stats = orthanc.client().get_json("/statistics")
    return {k: stats[k] for k in ("CountPatients", "CountStudies", "CountSeries", "CountInstances")}


def test_load_stores_the_whole_hospital(orthanc: LocalOrthanc, demo_hospital: pd.DataFrame) -> None:
    generated = demo_hospital[~demo_hospital.cohort.isin(["pydicom", "pathology"])]
    cohort_size = _cohort_size(demo_hospital)
    assert cohort_size > 0 and set(generated.status) == {"new"}
    assert generated.series_uid.tolist() == [p.series_uid for p in hospital.plans(cohort_size)]
    inpatients = generated[generated.cohort == "inpatient"]
    assert set(inpatients.patient_id) == {p.patient_id for p in ROSTER}
    assert set(inpatients.modality) == {"CT", "CR", "MR"}
    screening = generated[generated.cohort == "screening"]
    assert sorted(screening.patient_id) == [f"SCR-{i:04d}" for i in range(1, cohort_size + 1)]
    pydicom_rows = demo_hospital[demo_hospital.cohort == "pydicom"]
    assert {"H31EXAMPLE", "CQ500-CT-310"} <= set(pydicom_rows.patient_id)
    assert set(pydicom_rows.status) <= {"new", "already stored"}
    assert {name for name, _ in demo_hospital.attrs["skipped"]} >= {"chrSQEncoding.dcm", "chrSQEncoding1.dcm"}
    client = orthanc.client()
    for row in generated.itertuples():
        found = client.post_json(
            "/tools/find", {"Level": "Series", "Query": {"SeriesInstanceUID": row.series_uid}, "Expand": True}
        )
        assert len(found) == 1 and len(found[0]["Instances"]) == row.n_instances


def test_second_load_adds_nothing(orthanc: LocalOrthanc, demo_hospital: pd.DataFrame) -> None:
    before = _counts(orthanc)
    archive = OrthancArchive(orthanc.client(), cache=False)
    again = load(archive, cohort_size=_cohort_size(demo_hospital), progress=False)
    assert set(again.status) == {"already stored"}
    assert again.series_uid.tolist() == demo_hospital.series_uid.tolist()
    assert _counts(orthanc) == before


def test_a_series_missing_an_instance_is_completed(
    orthanc: LocalOrthanc, demo_hospital: pd.DataFrame
) -> None:
    client = orthanc.client()
    row = demo_hospital[demo_hospital.cohort == "screening"].iloc[0]
    (series,) = client.post_json(
        "/tools/find", {"Level": "Series", "Query": {"SeriesInstanceUID": row.series_uid}}
    )
    instances = client.get_json(f"/series/{series}/instances")
    client.request("DELETE", f"/instances/{instances[0]['ID']}")
    before = _counts(orthanc)
    archive = OrthancArchive(client, cache=False)
    again = load(archive, cohort_size=_cohort_size(demo_hospital), progress=False).set_index("series_uid")
    assert again.loc[row.series_uid, "status"] == "completed"
    assert set(again.drop(index=row.series_uid).status) == {"already stored"}
    assert _counts(orthanc)["CountInstances"] == before["CountInstances"] + 1


def test_japanese_names_come_back_from_orthanc(orthanc: LocalOrthanc, demo_hospital: pd.DataFrame) -> None:
    client = orthanc.client()
    for patient in ROSTER:  # half are ISO 2022 IR 87, half UTF-8
        (found,) = client.post_json(
            "/tools/find", {"Level": "Patient", "Query": {"PatientID": patient.patient_id}, "Expand": True}
        )
        assert found["MainDicomTags"]["PatientName"] == patient.name
    hits = client.post_json(
        "/tools/find", {"Level": "Patient", "Query": {"PatientName": "*山田*"}, "Expand": True}
    )
    names = {h["MainDicomTags"]["PatientName"] for h in hits}
    assert ROSTER[0].name in names


def test_cli_load_reports_nothing_new_on_a_loaded_server(
    orthanc_env: LocalOrthanc, demo_hospital: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["demo-data", "load", "--cohort-size", str(_cohort_size(demo_hospital)), "--no-progress"]) == 0
    )
    out = capsys.readouterr().out
    assert "inpatient" in out and "screening" in out
    assert f"{len(demo_hospital)} series" in out and "0 series stored now" in out


def test_workbench_studies_lists_the_demo_patients_with_kanji(
    orthanc_env: LocalOrthanc, demo_hospital: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's "done when": after ``demo-data load``, ``workbench studies`` shows the kanji names."""
    assert main(["studies", "--format", "json"]) == 0
    studies = json.loads(capsys.readouterr().out)
    names = {s["patient_id"]: s["patient_name"] for s in studies}
    assert all(names.get(p.patient_id) == p.name for p in ROSTER)


def test_cli_load_without_a_server_says_how_to_get_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-data", "load", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("workbench: error:") and "workbench orthanc start" in err and "\n" not in err


def test_cli_load_with_a_wrong_password_is_refused(
    orthanc_env: LocalOrthanc, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORKBENCH_ORTHANC_PASSWORD", "wrong")
    assert main(["demo-data", "load", "--no-progress"]) == 2
    assert "HTTP 401" in capsys.readouterr().err


def test_cli_list_and_labels_need_no_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-data", "list", "--cohort-size", "2", "--format", "csv"]) == 0
    listing = capsys.readouterr().out
    assert "SCR-0002" in listing and "山田" in listing and "SCR-0003" not in listing
    assert main(["demo-data", "labels", "--cohort-size", "4"]) == 0
    labels = capsys.readouterr().out.splitlines()
    assert labels[0] == "patient_id,study_uid,series_uid,label" and len(labels) == 5


class _FlakyArchive:
    """Breaks off the first ``failures`` uploads the way a dropped keep-alive connection does."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def store(self, items: list[Any], **_: Any) -> list[Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ArchiveError("cannot reach Orthanc at http://127.0.0.1:1 (connection failed)")
        return [object() for _ in items]


def test_an_upload_that_breaks_off_is_sent_once_more() -> None:
    client = _FlakyArchive(failures=1)
    assert len(loader._upload(client, [1, 2, 3], "series x")) == 3  # type: ignore[arg-type]
    assert client.calls == 2
    with pytest.raises(ArchiveError, match="connection failed"):
        loader._upload(_FlakyArchive(failures=2), [1], "series y")  # type: ignore[arg-type]
