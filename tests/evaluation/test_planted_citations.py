"""The planted-error set: the report's citation support catches wrong citations.

Measured on the set in eval/citations/planted.jsonl (30 cases, 30 items per kind): wrong day 27/30 (0.90; a
wrong-day entry can really support the claim, e.g. the day before discharge whose plan says 明日退院),
non-existent ID 30/30, right ID with a wrong value 30/30, false alarms on unchanged sentences 0/30.
"""

from __future__ import annotations

from workbench.evaluation.planted_citations import PLANTED_FILE, detection, planted_items, read_planted
from workbench.summary.cases import load_cases

from .sample_run import CASES_DIR

DETECTION_FLOOR = {"wrong_day": 0.9, "missing_id": 1.0, "wrong_value": 0.95}
FALSE_ALARM_CEILING = 0.05


def test_the_set_in_eval_is_made_deterministically() -> None:
    cases = load_cases(CASES_DIR)
    assert planted_items(cases) == read_planted(PLANTED_FILE)


def test_citation_support_catches_the_planted_errors() -> None:
    cases = {c.case_id: c for c in load_cases(CASES_DIR)}
    items = read_planted(PLANTED_FILE)
    rates = detection(items, cases)
    assert {kind: r["n"] for kind, r in rates.items()} == {
        "wrong_day": 30, "missing_id": 30, "wrong_value": 30, "control": 30
    }
    for kind, floor in DETECTION_FLOOR.items():
        assert rates[kind]["rate"] >= floor, (kind, rates[kind])
    planted = [r for kind, r in rates.items() if kind != "control"]
    overall = sum(r["flagged"] for r in planted) / sum(r["n"] for r in planted)
    assert overall >= 0.95, rates
    assert rates["control"]["rate"] <= FALSE_ALARM_CEILING, rates["control"]
