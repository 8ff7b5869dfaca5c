"""Run notebook 03 headless at tiny parameters: the demo spec, two cases, one prompt version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.notebooks.parameters import tiny_parameters
from workbench.experiments.record import collect


@pytest.mark.notebook
def test_03_prompt_experiments(run_notebook, tmp_path: Path) -> None:
    parameters = tiny_parameters("03_prompt_experiments", tmp_path)
    cases, runs = parameters["cases"], Path(parameters["runs_dir"])
    executed = run_notebook("03_prompt_experiments", **parameters)
    (run_dir,) = list(runs.iterdir())
    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6  # 2 cases x 1 prompt x 3 sources (the demo spec's) x 1 repeat
    assert {r["prompt_version"] for r in rows} == {"v1"}
    assert {r["source"] for r in rows} == {"doctor", "nursing", "both"}
    assert {r["case_id"] for r in rows} == {Path(c).name for c in cases}
    assert all(r["error"] is None and r["model"] == "baseline:extractive" for r in rows)
    assert all("現病歴" in r["output"] for r in rows)
    records = collect(executed).iloc[0]
    assert records["run_dir"] == str(run_dir) and records["n_calls"] == 6 and records["n_errors"] == 0
    table = records["results"]
    assert table["calls"].sum() == 6 and set(table["prompt_version"]) == {"v1"}
