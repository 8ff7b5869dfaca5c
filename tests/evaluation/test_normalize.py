"""Widths, units and date styles are brought to one form."""

from __future__ import annotations

import datetime as dt

import pytest

from workbench.evaluation.normalize import match_form, nearest_year, normalize

ANCHOR = dt.date(2023, 7, 22)


@pytest.mark.parametrize("text", ["１０ｍｇ", "10 mg", "10ミリグラム", "10MG", "10㎎"])
def test_width_and_unit_forms(text: str) -> None:
    assert normalize(text) == "10mg"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,200 ml", "1200mL"),
        ("500cc", "500mL"),
        ("Cr 5.6 mg/dl", "Cr 5.6mg/dL"),
        ("36.8℃", "36.8°C"),
        ("インスリン 4単位", "インスリン 4U"),
    ],
)
def test_units(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    "text", ["7月25日", "７月２５日", "7/25", "2023年7月25日", "2023/7/25", "2023-07-25", "令和5年7月25日"]
)
def test_date_styles(text: str) -> None:
    assert normalize(text, anchor=ANCHOR) == "2023-07-25"


def test_dates_without_year_take_the_nearest_year() -> None:
    assert normalize("1月3日に退院", anchor=dt.date(2023, 12, 28)) == "2024-01-03に退院"
    assert normalize("12月30日", anchor=dt.date(2024, 1, 2)) == "2023-12-30"
    assert nearest_year(2, 29, dt.date(2023, 3, 1)) == 2024  # only a leap year has the day


def test_what_is_not_a_date_is_kept() -> None:
    assert normalize("BP 138/73 mmHg", anchor=ANCHOR) == "BP 138/73mmHg"
    assert normalize("1/2錠", anchor=ANCHOR) == "1/2錠"
    assert normalize("2月30日", anchor=ANCHOR) == "2月30日"
    assert normalize("7月25日") == "7月25日"  # no anchor: the year is unknown


def test_match_form() -> None:
    assert match_form("ＣＲＰ　１５.２ mg/dl") == match_form("CRP 15.2mg/dL") == "crp15.2mg/dl"
