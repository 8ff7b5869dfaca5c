"""The tiny parameters every notebook runs with under test: the one place both harnesses read.

``tests/notebooks/test_0X_*.py`` pass them to papermill (``run_notebook``); ``nbval_plugin.py`` beside
this file injects them after the ``parameters`` cell when nbval runs the notebook cell by cell (``make
test``). A run's files go under ``workdir``; notebooks in :data:`NEEDS_ARCHIVE` get the session's Orthanc
with the demo hospital.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"

NEEDS_ARCHIVE = frozenset(
    {"00_quickstart", "01_browse_studies", "02_monai_classification", "05_summary_assistant", "06_pathology"}
)
"""Notebooks that read the archive: they run against the session's Orthanc holding the demo hospital."""


def _write_sample_run(run_dir: Path) -> Path:
    """tests/evaluation/sample_run.py (not a package: loaded by path)."""
    path = ROOT / "tests" / "evaluation" / "sample_run.py"
    spec = importlib.util.spec_from_file_location("sample_run", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.write_sample_run(run_dir)


def tiny_parameters(name: str, workdir: Path, demo_hospital: Any = None) -> dict[str, Any]:
    """The parameters of notebook ``name`` (its file stem) for a test run writing under ``workdir``.

    Parameters
    ----------
    name : str
        The notebook's file name without ``.ipynb``, e.g. ``"00_quickstart"``.
    workdir : Path
        An empty folder of the test's own: outputs, run folders and sample inputs go there.
    demo_hospital : pandas.DataFrame, optional
        The demo hospital loaded into the test Orthanc (required for notebooks in :data:`NEEDS_ARCHIVE`
        whose parameters name its patients).

    Returns
    -------
    dict
        Parameter name to value, as papermill's ``parameters=`` takes them.
    """
    if name == "00_quickstart":
        screening_ct = demo_hospital[demo_hospital.cohort == "screening"].iloc[0]
        return {"patient_name": "*山田*", "ct_patient_name": screening_ct.patient_name}
    if name == "01_browse_studies":
        return {
            "patient_name": "*山田*",
            "modality": "CT",
            "preset": "lung",
            "montage_slices": 4,
            "output_dir": str(workdir / "browse"),
        }
    if name == "02_monai_classification":
        return {
            "epochs": 1,
            "image_size": 32,
            "n_patients": 8,
            "seed": 0,
            "batch_size": 4,
            "n_unseen": 1,
            "output_dir": str(workdir / "ml"),
        }
    if name == "03_prompt_experiments":
        cases = [str(p) for p in sorted((ROOT / "eval" / "cases").iterdir())[:2]]
        return {"prompts": ["v1"], "cases": cases, "runs_dir": str(workdir / "runs")}
    if name == "04_evaluation_report":
        runs = workdir / "runs"
        _write_sample_run(runs / "20261129T210000-sample")
        return {"run_dir": "", "runs_dir": str(runs), "output_dir": str(workdir / "report")}
    if name == "05_summary_assistant":
        # the first of ../eval/cases (case-001) is a demo-hospital inpatient: $(imaging) lists its studies
        return {
            "model": "baseline:extractive",
            "prompt_version": "v6",
            "source": "both",
            "output_path": str(workdir / "generation.json"),
        }
    if name == "06_pathology":
        return {
            "level": 1,
            "patch_size": 256,
            "input_size": 32,
            "epochs": 2,
            "batch_size": 16,
            "output_dir": str(workdir / "pathology"),
        }
    raise KeyError(f"{name}: no tiny parameters in tests/notebooks/parameters.py; add them there")
