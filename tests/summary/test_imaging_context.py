from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from workbench.summary.cases import load_case
from workbench.summary.imaging_context import (
    NO_STUDIES,
    ImagingContext,
    ImagingStatus,
    imaging_context,
    imaging_lines,
    patient_names,
)

from .conftest import CORPUS


class FakeArchive:
    """Answers studies()/patients() like workbench.imaging's Archive, filtering as the contract says."""

    def __init__(self, studies: pd.DataFrame, patients: pd.DataFrame | None = None) -> None:
        self._studies, self._patients = studies, patients
        self.calls: list[dict[str, Any]] = []

    def studies(self, **filters: Any) -> pd.DataFrame:
        self.calls.append(filters)
        start, end = filters["study_date"]
        frame = self._studies[self._studies.patient_id == filters["patient_id"]]
        dates = frame.study_date.dt.date
        return frame[(dates >= start) & (dates <= end)].reset_index(drop=True)

    def patients(self, **filters: Any) -> pd.DataFrame:
        if self._patients is None:  # the patients are those with a study
            patients = self._studies[["patient_id"]].drop_duplicates()
        else:
            patients = self._patients
        return patients[patients.patient_id == filters["patient_id"]]


def studies_frame(rows: list[tuple[str, str, str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "study_uid": [f"1.2.{i}" for i in range(len(rows))],
            "patient_id": [r[0] for r in rows],
            "study_date": pd.to_datetime([r[1] for r in rows]),
            "study_time": ["101500"] * len(rows),
            "modalities": [r[2] for r in rows],
            "study_description": [r[3] for r in rows],
            "n_series": [r[4] for r in rows],
        }
    )


def test_lines_list_the_studies_of_the_stay_oldest_first(tiny_case) -> None:
    pid = tiny_case.patient_id
    archive = FakeArchive(
        studies_frame(
            [
                (pid, "2022-10-11", "CR", "胸部X線", 1),
                (pid, "2022-10-08", "CT\\CR", "胸部CT", 3),
                (pid, "2022-09-01", "CT", "外来CT", 2),  # before admission
                ("OTHER", "2022-10-09", "MR", "頭部MRI", 4),
            ]
        )
    )
    assert (
        imaging_lines(tiny_case, archive)
        == "2022-10-08 CT/CR 胸部CT (3 series)\n2022-10-11 CR 胸部X線 (1 series)"
    )
    assert archive.calls == [{"patient_id": pid, "study_date": (dt.date(2022, 10, 8), dt.date(2022, 10, 12))}]


def test_no_studies_says_which_kind_of_none(tiny_case) -> None:
    pid = tiny_case.patient_id
    before = FakeArchive(studies_frame([(pid, "2022-09-01", "CT", "外来CT", 2)]))
    during = imaging_context(tiny_case, before)
    assert during == ImagingContext(ImagingStatus.NO_STUDIES, NO_STUDIES)
    assert imaging_lines(tiny_case, before) == NO_STUDIES
    other = FakeArchive(studies_frame([("OTHER", "2022-10-09", "MR", "頭部MRI", 4)]))
    absent = imaging_context(tiny_case, other)
    assert absent.status is ImagingStatus.PATIENT_NOT_IN_ARCHIVE
    assert absent.text != NO_STUDIES and "不明" in absent.text
    unconfigured = imaging_context(tiny_case, None)
    assert unconfigured.status is ImagingStatus.NO_ARCHIVE and "未設定" in unconfigured.text
    assert len({during.text, absent.text, unconfigured.text}) == 3


def test_patient_names_for_redaction(tiny_case) -> None:
    patients = pd.DataFrame({"patient_id": [tiny_case.patient_id], "patient_name": ["KAWANO^JIRO=川野^次郎"]})
    assert patient_names(tiny_case, FakeArchive(studies_frame([]), patients)) == ["KAWANO^JIRO=川野^次郎"]


@pytest.mark.orthanc
def test_imaging_from_the_demo_hospital(demo_hospital, orthanc_env) -> None:
    from workbench.imaging import connect
    from workbench.imaging.demo.roster import ROSTER

    case = load_case(CORPUS / "case-001")
    patient = next(p for p in ROSTER if p.patient_id == case.patient_id)
    lines = imaging_lines(case, connect()).splitlines()
    assert len(lines) >= 1 + int(patient.chest_xray)
    assert all(
        case.admission_date.isoformat() <= line[:10] <= case.discharge_date.isoformat() for line in lines
    )
    assert any(" CT" in line for line in lines)


@pytest.mark.orthanc
def test_the_three_kinds_of_none_against_the_real_archive(demo_hospital, orthanc_env) -> None:
    from dataclasses import replace

    from workbench.imaging import connect
    from workbench.summary.imaging_context import configured_archive

    archive = configured_archive()  # configured here: the test Orthanc
    assert archive is not None
    case = load_case(CORPUS / "case-001")
    assert imaging_context(case, archive).status is ImagingStatus.STUDIES
    years_later = replace(
        case,
        admission_date=case.admission_date.replace(year=case.admission_date.year + 5),
        discharge_date=case.discharge_date.replace(year=case.discharge_date.year + 5),
    )
    assert imaging_context(years_later, connect()).status is ImagingStatus.NO_STUDIES
    stranger = replace(case, patient_id="NOT-IN-THE-ARCHIVE-0000")
    assert imaging_context(stranger, connect()).status is ImagingStatus.PATIENT_NOT_IN_ARCHIVE


def test_no_archive_configured_is_none(monkeypatch) -> None:
    from workbench.summary.imaging_context import configured_archive

    monkeypatch.delenv("WORKBENCH_ORTHANC_URL", raising=False)
    assert configured_archive() is None
