"""From archive search results to MONAI datasets, and datasets that survive a bad series.

:func:`series_dicts` turns a table with a ``series_uid`` column (``archive.series(...)`` joined with labels)
into the list of dicts that MONAI's ``Dataset``, ``CacheDataset`` and ``PersistentDataset`` take; pair it with
:class:`workbench.ml.transforms.LoadSeriesd`. :func:`split_items` makes a stratified, patient-grouped split.

A series that cannot be loaded (deleted, truncated, a radiograph in a CT cohort) should neither end a
training run with a bare ``RuntimeError: applying transform ...`` nor vanish silently.
:class:`TolerantDataset` wraps any of MONAI's datasets: the first time an item fails it logs a warning naming
the series and the cause, records it in :attr:`TolerantDataset.failures`, and from then on yields ``None``
for it; :func:`collate_skip_failed` drops those from the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SERIES_COLUMN = "series_uid"
PASSTHROUGH_COLUMNS = ("series_uid", "patient_id", "study_uid")
"""Columns copied into every item (when present), so results can be traced back to the archive."""


def series_dicts(
    frame: pd.DataFrame,
    label: str | None = "label",
    *,
    classes: Sequence[Any] | None = None,
    image_key: str = "image",
    label_key: str = "label",
    extra: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Turn a table of series into the list of dicts that MONAI datasets take.

    Parameters
    ----------
    frame
        One row per series with a ``series_uid`` column, e.g. ``archive.series(modality="CT")`` merged with
        a table of labels.
    label
        Column holding the class of each series (any values: ``"pneumonia"``, 0/1 ...); ``None`` for
        unlabeled items (inference).
    classes
        The classes in index order; item labels are their positions in it. Default: the sorted distinct
        values of ``label`` (``["normal", "pneumonia"]`` -> normal 0, pneumonia 1).
    image_key
        Key that gets the series UID (the key :class:`~workbench.ml.transforms.LoadSeriesd` loads).
    label_key
        Key that gets the class index.
    extra
        More columns to copy into each item (``series_uid``, ``patient_id`` and ``study_uid`` always are).

    Returns
    -------
    list of dict
        One per row, in the frame's order:
        ``{"image": series_uid, "label": int, "series_uid": ..., "patient_id": ..., "study_uid": ...}``.

    Raises
    ------
    ValueError
        A column is missing, a series appears twice, a label is empty or not in ``classes``.
    """
    wanted = [SERIES_COLUMN, *([label] if label else []), *extra]
    missing = [column for column in wanted if column not in frame.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not in the table; it has {list(frame.columns)}")
    duplicated = frame[SERIES_COLUMN][frame[SERIES_COLUMN].duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"series listed more than once: {duplicated[:5]}; drop duplicates first")
    index: dict[Any, int] = {}
    if label:
        empty = frame.loc[frame[label].isna(), SERIES_COLUMN].tolist()
        if empty:
            raise ValueError(f"{len(empty)} series have no {label!r} (first: {empty[0]}); drop or label them")
        classes = list(classes) if classes is not None else sorted(frame[label].unique().tolist())
        index = {value: position for position, value in enumerate(classes)}
        unknown = sorted(set(frame[label].tolist()) - set(index), key=str)
        if unknown:
            raise ValueError(f"label(s) {unknown} in column {label!r} are not in classes {classes}")
    copied = [c for c in PASSTHROUGH_COLUMNS if c in frame.columns]
    copied += [c for c in extra if c not in copied]
    items = []
    for row in frame.to_dict("records"):
        item: dict[str, Any] = {image_key: str(row[SERIES_COLUMN])}
        if label:
            item[label_key] = index[row[label]]
        item.update({column: _plain(row[column]) for column in copied})
        items.append(item)
    return items


def _plain(value: Any) -> Any:
    """Numpy scalars and timestamps as plain Python values (they collate and serialise predictably)."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def split_items(
    items: Sequence[dict[str, Any]],
    *,
    test_size: float = 0.3,
    seed: int = 0,
    label_key: str = "label",
    group_key: str | None = "patient_id",
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split items into train and held-out parts, stratified by label, never splitting a patient.

    Parameters
    ----------
    items
        From :func:`series_dicts`.
    test_size
        Fraction of patients held out (0 < test_size < 1).
    seed
        Seed of the shuffle.
    label_key
        Key of the class index (stratification).
    group_key
        Key naming the patient; all series of one patient land on the same side. ``None``: split series.

    Returns
    -------
    (train, held_out) : tuple of lists

    Raises
    ------
    ValueError
        ``test_size`` is out of range, or a class has too few patients to appear on both sides.
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedShuffleSplit

    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size}")
    labels = np.array([item[label_key] for item in items])
    counts = np.bincount(labels)
    if len(items) < 4 or counts.min() < 2:
        raise ValueError(f"need at least 2 items of every class to split, got class counts {counts.tolist()}")
    if group_key is None:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        train_idx, test_idx = next(splitter.split(np.zeros(len(items)), labels))
    else:
        groups = np.array([str(item[group_key]) for item in items])
        n_splits = max(2, round(1.0 / test_size))
        folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        train_idx, test_idx = next(folds.split(np.zeros(len(items)), labels, groups))
    return [items[i] for i in train_idx], [items[i] for i in test_idx]


@dataclass(frozen=True)
class ItemFailure:
    """One item a :class:`TolerantDataset` had to skip."""

    index: int
    series_uid: str
    error: str


class TolerantDataset:
    """Wrap a MONAI dataset so that an item that fails to load is reported and skipped, not fatal.

    Works with ``Dataset``, ``PersistentDataset`` and ``CacheDataset(runtime_cache=True)`` (a ``CacheDataset``
    that fills its cache up front raises while it is built, with the series named in the chained error).

    Parameters
    ----------
    dataset
        A map-style dataset whose ``data`` holds the items (all of MONAI's do).
    key
        Item key holding the series UID, used to name the failing series.

    Attributes
    ----------
    failures : list of ItemFailure
        Items skipped so far, in this process (DataLoader workers keep their own; the warnings reach the log).
    """

    def __init__(self, dataset: Any, key: str = "image") -> None:
        self.dataset = dataset
        self.key = key
        self.failures: list[ItemFailure] = []
        self._failed: set[int] = set()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        if index in self._failed:
            return None
        try:
            return self.dataset[index]
        except Exception as exc:  # any transform may fail; the item is reported and skipped
            failure = ItemFailure(index, self._series_of(index), _root_cause(exc))
            self.failures.append(failure)
            self._failed.add(index)
            logger.warning("skipping series %s (item %d): %s", failure.series_uid, index, failure.error)
            return None

    def _series_of(self, index: int) -> str:
        try:
            item = self.dataset.data[index]
        except (AttributeError, IndexError, KeyError, TypeError):
            return "?"
        if isinstance(item, dict):
            item = item.get(self.key, item.get("series_uid", "?"))
        return str(item)

    def failure_table(self) -> pd.DataFrame:
        """The skipped items as a table (index, series_uid, error)."""
        return pd.DataFrame([asdict(f) for f in self.failures], columns=["index", "series_uid", "error"])


def _root_cause(exc: BaseException) -> str:
    """The message of the innermost exception (MONAI wraps transform errors in ``RuntimeError``)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {exc}"


def collate_skip_failed(batch: Sequence[Any]) -> Any:
    """MONAI's ``list_data_collate`` without the items a :class:`TolerantDataset` skipped.

    Returns ``None`` when every item of the batch was skipped; loops should ``continue`` on it.
    """
    from monai.data import list_data_collate

    kept = [item for item in batch if item is not None]
    return list_data_collate(kept) if kept else None
