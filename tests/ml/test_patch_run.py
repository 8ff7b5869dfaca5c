"""The files of a patch-classifier run: metrics JSON-ready, written atomically and private."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.ml.patch_run import patch_run_metrics, save_patch_run
from workbench.ml.training import ClassifierEvaluation


def _evaluation() -> ClassifierEvaluation:
    predictions = pd.DataFrame({"true_class": ["normal", "tumour"], "p_tumour": [0.2, 0.9]})
    return ClassifierEvaluation(
        positive="tumour",
        accuracy=1.0,
        roc_auc=1.0,
        fpr=np.array([0.0, 1.0]),
        tpr=np.array([1.0, 1.0]),
        predictions=predictions,
    )


def test_metrics_name_the_held_out_slides_and_the_annotations_found(tmp_path: Path) -> None:
    metrics = patch_run_metrics(
        parameters={"level": 1, "seed": 0},
        train_slides=[{"series_uid": "1.2.1"}, {"series_uid": "1.2.2"}],
        test_slides=[{"series_uid": "1.2.3"}],
        n_train=40,
        n_test=2,
        evaluation=_evaluation(),
        train_seconds=3.14159,
        history=pd.DataFrame({"epoch": [1, 2], "loss": [0.7, 0.3]}),
        annotation_series_uid="1.2.9",
        annotated_slide="1.2.3",
        annotations_found=pd.DataFrame({"probability": [0.2, 0.9]}),
    )
    assert metrics["train_slides"] == ["1.2.1", "1.2.2"] and metrics["test_slides"] == ["1.2.3"]
    assert metrics["n"] == 2 and metrics["roc_auc"] == 1.0 and metrics["final_loss"] == 0.3
    assert metrics["train_seconds"] == 3.1 and metrics["annotations_found"] == 2

    folder = tmp_path / "new" / "run"
    files = save_patch_run(folder, metrics, pd.DataFrame({"x": [0, 128], "p_tumour": [0.2, 0.9]}))
    assert [f.name for f in files] == ["metrics.json", "patches.csv"]
    assert json.loads((folder / "metrics.json").read_text(encoding="utf-8")) == metrics
    assert pd.read_csv(folder / "patches.csv")["p_tumour"].tolist() == [0.2, 0.9]
    assert folder.stat().st_mode & 0o777 == 0o700
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
