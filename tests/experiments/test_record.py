"""record/collect: values recorded in notebooks (or sidecar files) come back as one DataFrame."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from workbench.experiments.record import MIME_TYPE, SIDECAR_ENV, collect, record


def _notebook(path: Path, parameters: dict, records: dict) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["papermill"] = {"parameters": parameters}
    cell = nbformat.v4.new_code_cell("record(...)")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={MIME_TYPE: {"name": k, "value": v}, "text/plain": k})
        for k, v in records.items()
    ]
    notebook.cells = [cell]
    nbformat.write(notebook, path)
    return path


def test_sidecar_round_trip_with_numpy_and_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sidecar = tmp_path / "records.json"
    monkeypatch.setenv(SIDECAR_ENV, str(sidecar))
    frame = pd.DataFrame({"model": ["a", "b"], "rouge1": [0.5, 0.25]})
    record("n_calls", np.int64(12))
    record("scores", np.array([0.5, 0.75]))
    record("table", frame)
    record("run_dir", tmp_path / "runs" / "x")
    record("n_calls", 13)  # recording again replaces
    collected = collect(sidecar)
    assert collected.loc[0, "n_calls"] == 13
    assert collected.loc[0, "scores"] == [0.5, 0.75]
    assert collected.loc[0, "run_dir"] == str(tmp_path / "runs" / "x")
    pd.testing.assert_frame_equal(collected.loc[0, "table"], frame)


def test_unrecordable_values_say_what_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot record a object"):
        record("x", object(), sidecar=tmp_path / "r.json")


def test_collect_gathers_notebooks_with_their_parameters(tmp_path: Path) -> None:
    _notebook(tmp_path / "a.ipynb", {"repeats": 1}, {"mean": 0.5, "n": 2})
    _notebook(tmp_path / "b.ipynb", {"repeats": 2}, {"mean": 0.75})
    (tmp_path / "ignored.txt").write_text("x")
    frame = collect(tmp_path)
    assert list(frame["notebook"]) == [str(tmp_path / "a.ipynb"), str(tmp_path / "b.ipynb")]
    assert list(frame["param_repeats"]) == [1, 2]
    assert list(frame["mean"]) == [0.5, 0.75]
    assert frame["n"].isna().tolist() == [False, True]
    assert len(collect(str(tmp_path / "*.ipynb"))) == 2
    assert len(collect([tmp_path / "a.ipynb"])) == 1


def test_collect_names_what_matched_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no notebook or record file matches"):
        collect(str(tmp_path / "*.ipynb"))

