"""series_dicts, split_items and TolerantDataset."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from monai.data import CacheDataset, DataLoader, Dataset

from workbench.ml.datasets import TolerantDataset, collate_skip_failed, series_dicts, split_items
from workbench.ml.transforms import classification_transforms


def _table() -> pd.DataFrame:
    return pd.DataFrame({
        "series_uid": ["1.1", "1.2", "1.3"],
        "study_uid": ["9.1", "9.2", "9.3"],
        "patient_id": ["a", "b", "c"],
        "modality": ["CT", "CT", "CT"],
        "diagnosis": ["pneumonia", "normal", "pneumonia"],
        "age": pd.Series([70, 65, 80], dtype="int64"),
    })


def test_series_dicts_maps_labels_to_sorted_class_indices():
    items = series_dicts(_table(), "diagnosis", extra=["age"])
    assert items[0] == {
        "image": "1.1", "label": 1, "series_uid": "1.1", "patient_id": "a", "study_uid": "9.1", "age": 70
    }
    assert [item["label"] for item in items] == [1, 0, 1]
    assert type(items[0]["age"]) is int  # numpy scalars become plain values


def test_series_dicts_with_given_classes_and_without_labels():
    items = series_dicts(_table(), "diagnosis", classes=["pneumonia", "normal"], image_key="ct")
    assert [item["label"] for item in items] == [0, 1, 0] and items[0]["ct"] == "1.1"
    unlabeled = series_dicts(_table(), None)
    assert "label" not in unlabeled[0] and unlabeled[1]["image"] == "1.2"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns="series_uid"), r"column\(s\) \['series_uid'\] not in the table"),
        (lambda t: t.drop(columns="diagnosis"), r"column\(s\) \['diagnosis'\]"),
        (lambda t: pd.concat([t, t.iloc[:1]]), r"series listed more than once: \['1.1'\]"),
        (
            lambda t: t.assign(diagnosis=["pneumonia", None, "normal"]),
            r"1 series have no 'diagnosis' \(first: 1.2\)",
        ),
    ],
)
def test_series_dicts_rejects_bad_tables(change, message):
    with pytest.raises(ValueError, match=message):
        series_dicts(change(_table()), "diagnosis")


def test_series_dicts_rejects_labels_outside_the_classes():
    with pytest.raises(ValueError, match=r"label\(s\) \['normal'\] in column 'diagnosis' are not in classes"):
        series_dicts(_table(), "diagnosis", classes=["pneumonia"])


def test_split_keeps_patients_together_and_both_classes_on_both_sides():
    items = [
        {"image": f"{p}.{s}", "label": p % 2, "patient_id": f"p{p}"} for p in range(12) for s in range(2)
    ]
    train, held_out = split_items(items, test_size=0.25, seed=3)
    assert len(train) + len(held_out) == len(items)
    train_patients = {i["patient_id"] for i in train}
    assert train_patients.isdisjoint({i["patient_id"] for i in held_out})
    assert {i["label"] for i in held_out} == {0, 1} and {i["label"] for i in train} == {0, 1}
    assert split_items(items, test_size=0.25, seed=3) == (train, held_out)  # repeatable


def test_split_rejects_what_cannot_be_split():
    with pytest.raises(ValueError, match="test_size"):
        split_items([], test_size=1.5)
    with pytest.raises(ValueError, match=r"at least 2 items of every class.*\[3, 1\]"):
        split_items([{"label": 0, "patient_id": "a"}] * 3 + [{"label": 1, "patient_id": "b"}])


@pytest.mark.orthanc
def test_a_failing_series_is_named_reported_and_skipped(archive, ml_series, caplog):
    items = [
        {"image": ml_series.ct, "label": 0},
        {"image": "1.2.3.404", "label": 1},
        {"image": ml_series.secondary_capture, "label": 1},
        {"image": ml_series.ct, "label": 1},
    ]
    dataset = TolerantDataset(Dataset(items, classification_transforms(archive, image_size=8)))
    loader = DataLoader(dataset, batch_size=2, collate_fn=collate_skip_failed)
    with caplog.at_level(logging.WARNING, logger="workbench.ml.datasets"):
        batches = list(loader)
        assert [b["label"].tolist() for b in batches] == [[0], [1]]
        assert [b["label"].tolist() for b in loader] == [[0], [1]]  # second epoch: same, reported once
    table = dataset.failure_table()
    assert table["series_uid"].tolist() == ["1.2.3.404", ml_series.secondary_capture]
    assert table["index"].tolist() == [1, 2]
    assert "not found" in table["error"][0] and "no patient geometry" in table["error"][1]
    warnings = [r.getMessage() for r in caplog.records if r.name == "workbench.ml.datasets"]
    assert len(warnings) == 2 and "skipping series 1.2.3.404 (item 1)" in warnings[0]


@pytest.mark.orthanc
def test_tolerant_runtime_cache_dataset(archive, ml_series):
    items = [{"image": ml_series.ct, "label": 0}, {"image": ml_series.radiograph, "label": 1}]
    cached = CacheDataset(items, classification_transforms(archive, image_size=8), runtime_cache=True)
    dataset = TolerantDataset(cached)
    assert dataset[0]["image"].shape == (1, 8, 8, 8) and dataset[1] is None
    assert "single CR image" in dataset.failures[0].error
    assert collate_skip_failed([None, None]) is None
