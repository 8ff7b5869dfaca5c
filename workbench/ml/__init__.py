"""MONAI on the archive: series as MetaTensors, labeled datasets, a 3D classifier, results back as DICOM.

Modules
-------
transforms
    :class:`LoadSeries` / :class:`LoadSeriesd`: a series UID in, a MONAI ``MetaTensor`` out, with the affine
    and metadata MONAI's own DICOM readers produce; :func:`classification_transforms`, a ready pipeline.
datasets
    :func:`series_dicts` (a search table plus a label column -> the list of dicts MONAI datasets take) and
    :class:`TolerantDataset` (a series that fails to load is named, logged and skipped, not fatal).
training
    DenseNet121 training, evaluation (accuracy, ROC AUC) and inference on CPU or GPU.
writeback
    A prediction as a DICOM Comprehensive 3D SR (highdicom) referencing the source series, a mask as a
    DICOM SEG; stored in the archive and read back.
patches
    Whole-slide image patches (grid or random, on tissue, labels from masks) for MONAI datasets,
    :class:`ReadPatchd`, a small patch CNN and probability heatmaps.
slide_writeback
    Scored patches as DICOM Microscopy Bulk Simple Annotations on the slide, and read back.
patch_run
    What a patch-classifier run computed (``metrics.json``) and its files.

Everything here needs the ``ml`` extra (torch, monai, scikit-learn). The names below are imported on first
use, so ``import workbench.ml`` itself stays light.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from workbench.optional import require

require("torch", "monai", "sklearn", what="workbench.ml")



def hide_monai_future_warnings() -> None:
    """MONAI's deprecation notices (FutureWarning) are for MONAI's developers, not a researcher's notebook."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"monai(\.|$)")
    warnings.filterwarnings("ignore", category=FutureWarning, message=r"(?s).*monai")


hide_monai_future_warnings()

_EXPORTS = {
    "LoadSeries": "transforms",
    "LoadSeriesd": "transforms",
    "SeriesLoadError": "transforms",
    "classification_transforms": "transforms",
    "volume_to_metatensor": "transforms",
    "series_dicts": "datasets",
    "split_items": "datasets",
    "TolerantDataset": "datasets",
    "collate_skip_failed": "datasets",
    "set_seed": "training",
    "loader": "training",
    "make_classifier": "training",
    "train_classifier": "training",
    "evaluate": "training",
    "predict": "training",
    "ClassifierEvaluation": "training",
    "prediction_sr": "writeback",
    "read_prediction": "writeback",
    "write_prediction": "writeback",
    "read_predictions": "writeback",
    "segmentation": "writeback",
    "write_segmentation": "writeback",
    "ReadPatchd": "patches",
    "patch_items": "patches",
    "patch_transforms": "patches",
    "make_patch_classifier": "patches",
    "write_patch_annotations": "slide_writeback",
    "read_patch_annotations": "slide_writeback",
    "patch_run_metrics": "patch_run",
    "save_patch_run": "patch_run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench.ml' has no attribute {name!r}")
    return getattr(importlib.import_module(f"workbench.ml.{module}"), name)


def __dir__() -> list[str]:
    return __all__
