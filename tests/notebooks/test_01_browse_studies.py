"""Run notebook 01 headless against the demo hospital and check what it exported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.notebooks.parameters import tiny_parameters
from workbench.imaging import Volume


@pytest.mark.notebook
@pytest.mark.orthanc
def test_01_browse_studies(run_notebook: Any, demo_hospital: Any, tmp_path: Path) -> None:
    parameters = tiny_parameters("01_browse_studies", tmp_path, demo_hospital)
    executed = run_notebook("01_browse_studies", **parameters)
    output_dir = Path(parameters["output_dir"])
    summary = json.loads((output_dir / "summary.json").read_text(encoding="utf-8"))
    ct = demo_hospital[(demo_hospital.modality == "CT") & demo_hospital.patient_name.str.contains("山田")]
    assert summary["series_uid"] in set(ct.series_uid)
    assert summary["n_studies"] >= 1
    npz = Volume.load(output_dir / "volume.npz")
    nifti = Volume.load(output_dir / "volume.nii.gz")
    assert list(npz.array.shape) == summary["shape"]
    np.testing.assert_array_equal(npz.array, nifti.array)
    np.testing.assert_allclose(npz.affine, nifti.affine, atol=1e-4)
    assert npz.metadata["modality"] == "CT" and npz.array.min() < -500  # Hounsfield units: air is there
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    images = [o for c in cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # orthogonal planes and montage
    text = json.dumps(cells, ensure_ascii=False)
    assert "explorer.html#study?uuid=" in text and "山田" in text
