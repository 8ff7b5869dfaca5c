"""The nbval harness (tests/notebooks/nbval_plugin.py): cells as items, a failure named by its cell, every
notebook with checked outputs and a reference that matches its checked cells."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.notebooks.nbval_plugin import REFERENCES, _is_checked
from tests.notebooks.parameters import NOTEBOOKS, ROOT

ALL = sorted(NOTEBOOKS.glob("*.ipynb"))


def _code_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.notebook
def test_a_broken_cell_fails_as_that_cell_with_its_source(tmp_path: Path) -> None:
    copy = tmp_path / "03_prompt_experiments.ipynb"
    shutil.copy(NOTEBOOKS / copy.name, copy)
    nb = json.loads(copy.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code[2]["source"][0].startswith("experiment = load_spec(")
    code[2]["source"].append("\n1 / 0  # deliberately broken")  # after the cell's work: later cells still run
    copy.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")

    out = _nbval(tmp_path, copy.name)
    failed = re.findall(r"^FAILED (.+?) - ", out, flags=re.MULTILINE)
    assert failed == ["03_prompt_experiments.ipynb::Cell 2"], out  # that cell's item, and only it
    assert re.search(r"\b1 failed, 9 passed\b", out), out  # 9 code cells + the injected parameters
    assert "Cell 2: Cell execution caused an exception" in out
    assert "experiment = load_spec(spec, prompts=prompts" in out and "1 / 0  # deliberately broken" in out
    assert "ZeroDivisionError" in out


def _nbval(folder: Path, *args: str) -> str:
    """``pytest --nbval-lax`` with the harness in a subprocess, in ``folder``: its output."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.notebooks.nbval_plugin", "-p", "no:cacheprovider",
         "--nbval-lax", "--color=no", "-q", "-rf", *args],
        cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600,
    )
    return run.stdout + run.stderr


@pytest.mark.notebook
def test_refreshed_references_keep_checked_cells_and_catch_a_change(tmp_path: Path) -> None:
    copy = tmp_path / "03_prompt_experiments.ipynb"
    shutil.copy(NOTEBOOKS / copy.name, copy)
    references = tmp_path / "reference"
    out = _nbval(tmp_path, "--refresh-notebook-references", "--notebook-references", str(references), copy.name)
    assert re.search(r"\b10 passed\b", out), out
    cells = _code_cells(references / copy.name)
    assert [n for n, c in enumerate(cells) if c.outputs] == [3, 6]  # the checked cells only
    assert not [o for c in cells for o in c.outputs if any(k.startswith("image/") for k in o.get("data", {}))]
    assert "6 calls" in cells[3].outputs[0]["text"]  # the tiny parameters: 2 cases x v1 x 3 sources

    nb = json.loads(copy.read_text(encoding="utf-8"))  # a researcher edits checked cell 3 ...
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    code[3]["source"].append("\n# edited")
    copy.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    reference = json.loads((references / copy.name).read_text(encoding="utf-8"))  # ... and cell 6 shows else
    ref_code = [c for c in reference["cells"] if c["cell_type"] == "code"]
    ref_code[6]["outputs"][0]["text"] = "case-001 · prompt v9 · something else\n"
    (references / copy.name).write_text(json.dumps(reference, ensure_ascii=False), encoding="utf-8")

    out = _nbval(tmp_path, "--notebook-references", str(references), copy.name)
    failed = re.findall(r"^FAILED (.+?) - ", out, flags=re.MULTILINE)
    assert failed == ["03_prompt_experiments.ipynb::Cell 3", "03_prompt_experiments.ipynb::Cell 6"], out
    assert "has no expected output for this checked cell" in out and "make refresh-notebook-references" in out
    assert "Cell 6: Cell outputs differ" in out and "prompt v9 · something else" in out


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_every_notebook_has_a_checked_output_and_its_reference(path: Path) -> None:
    checked = [(n, c) for n, c in enumerate(_code_cells(path)) if _is_checked(c)]
    assert checked, f"{path.name}: no cell marked # NBVAL_CHECK_OUTPUT"
    reference = REFERENCES / path.name
    assert reference.exists(), f"{reference} missing: run make refresh-notebook-references"
    expected = _code_cells(reference)
    for number, cell in checked:
        assert expected[number].source == cell.source and expected[number].outputs, (
            f"{reference.name} cell {number} is out of date: run make refresh-notebook-references"
        )
    kept = [n for n, c in enumerate(expected) if c.outputs]
    assert kept == [n for n, _ in checked], f"{reference.name}: outputs of unchecked cells {kept} were kept"
