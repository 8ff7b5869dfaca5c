"""Fact recall against facts.json, with aliases, widths and date styles."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from workbench.errors import CaseFormatError
from workbench.evaluation.facts import fact_recall

FACTS = {
    "diagnoses": [{"name": "急性肺炎", "aliases": ["肺炎"]}],
    "comorbidities": [{"name": "2型糖尿病", "aliases": ["糖尿病", "DM"]}],
    "drugs": [{"name": "タゾバクタム・ピペラシリン", "aliases": ["TAZ/PIPC"], "action": "started"}],
    "procedures": [{"name": "在宅酸素療法", "aliases": ["HOT"]}],
    "key_dates": [{"name": "退院", "aliases": [], "date": "2023-08-18"}],
    "key_values": [{"name": "CRP", "aliases": ["C反応性蛋白"], "value": "15.2", "unit": "mg/dL"}],
}
ANCHOR = dt.date(2023, 7, 25)


def test_everything_found_in_other_surface_forms() -> None:
    summary = (
        "肺炎で入院。ＤＭあり。ｔａｚ／ｐｉｐｃを開始し、ＨＯＴを導入。"
        "入院時ＣＲＰ　１５．２ｍｇ／ｄＬ。8月18日退院。"
    )
    result = fact_recall(summary, FACTS, anchor=ANCHOR)
    assert result.recall == 1.0
    assert result.missed == []
    assert set(result.by_category) == set(FACTS)


def test_missed_facts_are_named() -> None:
    summary = "急性肺炎。CRPは115.2と高値。8月19日退院。"
    result = fact_recall(summary, FACTS, anchor=ANCHOR)
    assert result.recall == pytest.approx(1 / 6)
    assert "key_values: CRP 15.2mg/dL" in result.missed  # 115.2 is not 15.2
    assert "key_dates: 退院 2023-08-18" in result.missed
    assert result.by_category["diagnoses"] == 1.0 and result.by_category["drugs"] == 0.0


def test_value_must_follow_its_name() -> None:
    assert fact_recall("CRP 15.2mg/dL", {"key_values": FACTS["key_values"]}).recall == 1.0
    assert fact_recall("Hb 15.2、CRP陰性", {"key_values": FACTS["key_values"]}).recall == 0.0


def test_no_facts_gives_nan() -> None:
    assert math.isnan(fact_recall("何か", {}).recall)


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ({"allergies": []}, "unknown fact category 'allergies'"),
        ({"drugs": [{"aliases": []}]}, "needs a non-empty 'name'"),
        ({"key_dates": [{"name": "退院", "date": "8/18"}]}, "needs 'date': 'YYYY-MM-DD'"),
        ({"key_values": [{"name": "CRP"}]}, "needs a 'value'"),
    ],
)
def test_malformed_facts(facts: dict, message: str) -> None:
    with pytest.raises(CaseFormatError, match=message):
        fact_recall("text", facts, where="case-x/facts.json")
