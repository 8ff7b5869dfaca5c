"""The synthetic case corpus in eval/cases: complete, consistent with its facts, tied to the demo hospital."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.evaluation.facts import fact_recall
from workbench.imaging.demo.roster import ROSTER
from workbench.summary.cases import Source, load_cases
from workbench.summary.sections import SECTIONS, parse_sections

CASES_DIR = Path(__file__).resolve().parents[1] / "eval" / "cases"
DEPARTMENTS = {
    "respiratory",
    "cardiology",
    "gastroenterology",
    "neurology",
    "endocrinology",
    "orthopedics",
    "oncology",
    "infectious",
    "nephrology",
    "geriatrics",
}


@pytest.fixture(scope="module")
def cases():
    return load_cases(CASES_DIR)


def test_corpus_size_and_departments(cases) -> None:
    assert len(cases) >= 30
    assert {case.department for case in cases} >= DEPARTMENTS


def test_stays_are_5_to_20_days_with_both_sources(cases) -> None:
    for case in cases:
        days = (case.discharge_date - case.admission_date).days + 1
        assert 5 <= days <= 20, case.case_id
        assert case.doctor and case.nursing, case.case_id
        assert all(case.admission_date <= e.date <= case.discharge_date for e in case.doctor + case.nursing)
        assert "[医師]" in case.karte(Source.BOTH) and "[看護]" in case.karte(Source.BOTH)


def test_reference_summaries_have_the_four_sections_and_every_fact(cases) -> None:
    for case in cases:
        parsed = parse_sections(case.reference)
        assert not parsed.missing and not parsed.extra, case.case_id
        assert all(parsed.sections[name].strip() for name in SECTIONS), case.case_id
        recall = fact_recall(case.reference, case.facts, anchor=case.admission_date)
        assert recall.recall == 1.0, (case.case_id, recall.missed)


def test_demo_inpatients_have_cases(cases) -> None:
    by_patient = {case.patient_id: case for case in cases}
    linked = [p for p in ROSTER if p.patient_id in by_patient]
    assert len(linked) >= 4
    for patient in linked:
        case = by_patient[patient.patient_id]
        assert (case.admission_date, case.discharge_date) == (patient.admission_date, patient.discharge_date)
        assert case.department == patient.department
