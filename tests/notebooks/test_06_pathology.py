"""Run notebook 06 headless with tiny parameters: slides found, patches trained on, heatmap drawn, annotations
written back and found again through search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.notebooks.parameters import tiny_parameters

from workbench.experiments.record import collect
from workbench.imaging import connect
from workbench.imaging.demo.slides import slide_labels
from workbench.ml.slide_writeback import read_patch_annotations


@pytest.mark.notebook
@pytest.mark.orthanc
@pytest.mark.slow
def test_06_pathology(run_notebook: Any, demo_hospital: Any, orthanc: Any, tmp_path: Path) -> None:
    parameters = tiny_parameters("06_pathology", tmp_path, demo_hospital)
    executed = run_notebook("06_pathology", **parameters)
    output_dir = Path(parameters["output_dir"])
    metrics = json.loads((output_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["parameters"]["patch_size"] == 256 and metrics["parameters"]["epochs"] == 2
    demo = set(slide_labels().series_uid)
    train, test = set(metrics["train_slides"]), set(metrics["test_slides"])
    assert train | test == demo and not train & test and len(test) >= 2  # held out by slide
    assert metrics["n"] == metrics["n_test"] > 0 and metrics["n_train"] > 0
    assert metrics["roc_auc"] >= 0.9  # tumour nuclei are crowded and dark: even 2 epochs separate them
    assert metrics["annotated_slide"] in test and metrics["annotations_found"] > 0
    assert collect(executed).iloc[0]["metrics"] == metrics  # record()ed in the notebook, as the others do
    for name in ("metrics.json", "patches.csv"):
        assert (output_dir / name).stat().st_mode & 0o777 == 0o600

    # the annotations are really in the archive, found by search and read back independently of the notebook
    archive = connect(orthanc.url, orthanc.username, orthanc.password)
    stored = read_patch_annotations(archive, metrics["annotated_slide"])
    mine = stored[stored.annotation_series_uid == metrics["annotation_series_uid"]]
    assert len(mine) == metrics["annotations_found"] and mine.probability.between(0, 1).all()

    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    images = [o for c in cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # thumbnail and region, loss curve, ROC, heatmap
    assert "ROC AUC" in json.dumps(cells)
