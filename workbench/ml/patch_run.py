"""What a patch-classifier run on whole-slide images computed, and its files (notebook 06)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.files import atomic_write

if TYPE_CHECKING:
    from workbench.ml.training import ClassifierEvaluation

logger = logging.getLogger(__name__)


def patch_run_metrics(
    *,
    parameters: dict[str, Any],
    train_slides: Sequence[Mapping[str, Any]],
    test_slides: Sequence[Mapping[str, Any]],
    n_train: int,
    n_test: int,
    evaluation: ClassifierEvaluation,
    train_seconds: float,
    history: pd.DataFrame,
    annotation_series_uid: str,
    annotated_slide: str,
    annotations_found: pd.DataFrame,
) -> dict[str, Any]:
    """What a patch-classification run computed, JSON-ready (``metrics.json`` of notebook 06).

    Parameters
    ----------
    parameters
        The run's parameters (level, patch size, epochs, seed ...).
    train_slides, test_slides
        The slide items of each split (dicts with ``series_uid``): slides, not patches, are held out.
    n_train, n_test
        Patches used for training and held out.
    evaluation
        :func:`workbench.ml.training.evaluate` on the held-out patches.
    train_seconds
        Training time.
    history
        :func:`workbench.ml.training.train_classifier`'s loss per epoch.
    annotation_series_uid
        The Microscopy Bulk Simple Annotations series written back.
    annotated_slide
        The slide it annotates.
    annotations_found
        Its annotations found again through search
        (:func:`workbench.ml.slide_writeback.read_patch_annotations`).

    Returns
    -------
    dict
    """
    return {
        "parameters": parameters,
        "train_slides": [str(item["series_uid"]) for item in train_slides],
        "test_slides": [str(item["series_uid"]) for item in test_slides],
        "n_train": n_train,
        "n_test": n_test,
        **evaluation.to_dict(),
        "train_seconds": round(train_seconds, 1),
        "final_loss": float(history["loss"].iloc[-1]),
        "annotation_series_uid": annotation_series_uid,
        "annotated_slide": annotated_slide,
        "annotations_found": len(annotations_found),
    }


def save_patch_run(folder: str | Path, metrics: dict[str, Any], scored: pd.DataFrame) -> list[Path]:
    """Write ``metrics.json`` and ``patches.csv`` (the held-out patches with their scores) into ``folder``.

    The folder is created private (0700) if needed; each file is written atomically and private (0600).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = {
        "metrics.json": json.dumps(metrics, indent=2, ensure_ascii=False).encode("utf-8"),
        "patches.csv": scored.to_csv(index=False).encode("utf-8"),
    }
    for name, data in files.items():
        atomic_write(out / name, data, mode=0o600)
    logger.info("wrote %s: %s", out, ", ".join(files))
    return [out / name for name in files]
