"""Filter validation and DICOM matching (no server)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from workbench.imaging.query import Level, QueryError, build_query, date_range, matches


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20240101-20240131", "20240101-20240131"),
        ("20240101", "20240101"),
        ("2024-01-05", "20240105"),
        (dt.date(2024, 2, 29), "20240229"),
        (pd.Timestamp("2024-03-01 10:00"), "20240301"),
        ((dt.date(2024, 1, 1), None), "20240101-"),
        ((None, "2024-01-31"), "-20240131"),
        (("2024-01-01", dt.datetime(2024, 1, 31, 23, 0)), "20240101-20240131"),
        ("-20240131", "-20240131"),
    ],
)
def test_date_range_normalises(value: object, expected: str) -> None:
    assert date_range(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-13-01", "not a real calendar date"),
        (("2024-02-01", "2024-01-01"), "ends before it starts"),
        ("yesterday", "not a date"),
        ((1, 2, 3), "must be (start, end)"),
        (20240101, "not a date"),
    ],
)
def test_date_range_rejects(value: object, message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        date_range(value)


def test_build_query_maps_filters_per_level() -> None:
    study = build_query(
        Level.STUDY,
        {
            "patient_name": "*山田*",
            "modality": ["ct", "MR"],
            "description": "chest*",
            "study_date": ("2024-01-01", None),
            "limit": 5,
            "patient_id": None,
        },
    )
    assert study.tags == {
        "PatientName": "*山田*",
        "ModalitiesInStudy": "CT\\MR",
        "StudyDescription": "chest*",
        "StudyDate": "20240101-",
    }
    assert study.limit == 5
    series = build_query(
        Level.SERIES, {"modality": "CT", "description": "lung", "series_uid": ["1.2", "1.3"]}
    )
    assert series.tags == {"Modality": "CT", "SeriesDescription": "lung", "SeriesInstanceUID": "1.2\\1.3"}


@pytest.mark.parametrize(
    ("level", "filters", "message"),
    [
        (Level.STUDY, {"patient_nmae": "x"}, "unknown filter 'patient_nmae' for study search; use one of"),
        (Level.PATIENT, {"study_date": "20240101"}, "unknown filter 'study_date' for patient search"),
        (Level.STUDY, {"limit": 0}, "limit must be a positive integer"),
        (Level.STUDY, {"modality": "C T"}, "not a DICOM modality code"),
        (Level.STUDY, {"patient_name": ["a", "b"]}, "takes one value"),
        (Level.STUDY, {"patient_id": "a\\b"}, "backslash"),
        (Level.STUDY, {"patient_id": 12}, "must be a string"),
    ],
)
def test_build_query_rejects(level: Level, filters: dict[str, object], message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(")):
        build_query(level, filters)


@pytest.mark.parametrize(
    ("pattern", "value", "insensitive", "expected"),
    [
        ("*山田*", "Yamada^Taro=山田^太郎=やまだ^たろう", False, True),
        ("*田中*", "Yamada^Taro=山田^太郎", False, False),
        ("yamada*", "Yamada^Taro", True, True),
        ("yamada*", "Yamada^Taro", False, False),
        ("Ya?ada^Taro", "Yamada^Taro", False, True),
        ("20240101-20240131", "20240115", False, True),
        ("20240101-", "20231231", False, False),
        ("-20240131", "20240131", False, True),
        ("CT\\MR", "MR", False, True),
        ("1.2.3", "1.2.3", False, True),
        ("1.2.3", "1.2.34", False, False),
        ("a.b", "axb", False, False),
    ],
)
def test_matches(pattern: str, value: str, insensitive: bool, expected: bool) -> None:
    assert matches(pattern, value, case_sensitive=not insensitive) is expected
