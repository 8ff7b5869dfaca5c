"""Parameter sets for sweeps, and the explicit kernel."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from workbench.errors import SpecError
from workbench.experiments.record import collect
from workbench.experiments.sweep import expand_grid, load_parameter_sets, sweep


def test_expand_grid_is_the_product_in_order() -> None:
    assert expand_grid({"prompts": [["v1"], ["v2"]], "repeats": [1, 2]}) == [
        {"prompts": ["v1"], "repeats": 1}, {"prompts": ["v1"], "repeats": 2},
        {"prompts": ["v2"], "repeats": 1}, {"prompts": ["v2"], "repeats": 2},
    ]
    with pytest.raises(SpecError, match="repeats must be a non-empty list"):
        expand_grid({"repeats": []})


def test_parameter_files(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- {x: 1}\n- {x: 2, y: a}\n", encoding="utf-8")
    assert load_parameter_sets(tmp_path / "list.yaml") == [{"x": 1}, {"x": 2, "y": "a"}]
    (tmp_path / "grid.yaml").write_text("grid:\n  x: [1, 2]\n  y: [a]\n", encoding="utf-8")
    assert load_parameter_sets(tmp_path / "grid.yaml") == [{"x": 1, "y": "a"}, {"x": 2, "y": "a"}]
    (tmp_path / "bad.yaml").write_text("x: 1\n", encoding="utf-8")
    with pytest.raises(SpecError, match="expected a list of parameter mappings"):
        load_parameter_sets(tmp_path / "bad.yaml")
    with pytest.raises(SpecError, match="does not exist"):
        load_parameter_sets(tmp_path / "none.yaml")


def test_sweep_rejects_nonsense(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        sweep(tmp_path / "none.ipynb", [{}], out_dir=tmp_path)
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "n.ipynb")
    with pytest.raises(SpecError, match="at least one parameter set"):
        sweep(tmp_path / "n.ipynb", [], out_dir=tmp_path)
    with pytest.raises(SpecError, match="jobs must be >= 1"):
        sweep(tmp_path / "n.ipynb", [{}], out_dir=tmp_path, jobs=0)


@pytest.mark.slow
def test_the_kernel_is_the_one_asked_for_not_the_saved_one(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "some-other-kernel", "display_name": "?", "language": "python"}
    parameters = nbformat.v4.new_code_cell("label = 'x'")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(
        "import os, sys\nfrom workbench.experiments.record import record\n"
        "record('label', label)\nrecord('cwd', os.getcwd())\nrecord('python', sys.executable)"
    )]
    (tmp_path / "nb").mkdir()
    nbformat.write(notebook, tmp_path / "nb" / "k.ipynb")
    frame = sweep(tmp_path / "nb" / "k.ipynb", [{"label": "日本語"}], out_dir=tmp_path / "out",
                  progress=False)
    # No kernel is named some-other-kernel: the execution succeeds only with the kernel asked for.
    assert frame["ok"].tolist() == [True] and frame["param_label"].tolist() == ["日本語"]
    executed = Path(frame.loc[0, "output"])
    assert executed.name.startswith("k-000-") and Path(frame.loc[0, "log"]).is_file()
    records = collect(executed).iloc[0]
    assert records["label"] == "日本語" and records["cwd"] == str(tmp_path / "nb")
    assert Path(records["python"]).parent == Path(sys.executable).parent  # the project's environment
    shown = [o.data["text/plain"] for o in nbformat.read(executed, as_version=4).cells[-1].outputs]
    assert shown[0] == 'label = "日本語"'  # what a reader of the executed notebook sees
    index = json.loads((tmp_path / "out" / "sweep.json").read_text(encoding="utf-8"))
    assert index["kernel"] == "workbench" and index["runs"][0]["parameters"] == {"label": "日本語"}
