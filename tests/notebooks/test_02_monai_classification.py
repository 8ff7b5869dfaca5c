"""Run notebook 02 headless with tiny parameters: it trains, evaluates, writes an SR back and finds it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.notebooks.parameters import tiny_parameters
from workbench.imaging import connect
from workbench.imaging.demo import cohort_labels
from workbench.ml.writeback import read_predictions


@pytest.mark.notebook
@pytest.mark.orthanc
@pytest.mark.slow
def test_02_monai_classification(run_notebook: Any, demo_hospital: Any, orthanc: Any, tmp_path: Path) -> None:
    parameters = tiny_parameters("02_monai_classification", tmp_path, demo_hospital)
    executed = run_notebook("02_monai_classification", **parameters)
    output_dir = Path(parameters["output_dir"])
    metrics = json.loads((output_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["parameters"]["n_patients"] == 8 and metrics["parameters"]["image_size"] == 32
    assert metrics["n_train"] + metrics["n_test"] == len(cohort_labels(8)) == 8
    assert metrics["n"] == metrics["n_test"] and 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["roc_auc"] is None or 0.0 <= metrics["roc_auc"] <= 1.0
    assert metrics["failures"] == []
    assert (output_dir / "model.pt").stat().st_size > 1_000_000  # a DenseNet121's weights

    (unseen,) = metrics["unseen"]
    assert unseen["series_uid"] not in set(cohort_labels(8)["series_uid"])
    assert unseen["predicted_class"] in ("normal", "pneumonia") and 0.5 <= unseen["probability"] <= 1.0
    sr_uid = metrics["sr_series_uids"][unseen["series_uid"]]
    (found,) = metrics["found_sr"]
    assert found["sr_series_uid"] == sr_uid and found["source_series_uid"] == unseen["series_uid"]

    # the SR is really in the archive, found by search and read back independently of the notebook
    archive = connect(orthanc.url, orthanc.username, orthanc.password)
    stored = read_predictions(archive, patient_id=unseen["patient_id"]).set_index("sr_series_uid").loc[sr_uid]
    assert stored["finding"].lower() == unseen["predicted_class"]
    assert stored["probability"] == pytest.approx(unseen["probability"], abs=1e-6)

    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    images = [o for c in cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # input views, loss curve, ROC
    assert "ROC AUC" in json.dumps(cells)
