"""Run notebook 05 headless with the offline baseline, as ``make demo`` does without cloud credentials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.notebooks.parameters import tiny_parameters
from workbench.summary.history import open_history
from workbench.summary.sections import SECTIONS


@pytest.mark.notebook
@pytest.mark.orthanc
def test_05_summary_assistant(demo_hospital, run_notebook, tmp_path: Path) -> None:
    parameters = tiny_parameters("05_summary_assistant", tmp_path)
    record_path = Path(parameters["output_path"])
    executed = run_notebook("05_summary_assistant", **parameters)
    record = json.loads(record_path.read_text(encoding="utf-8"))
    assert (record["model"], record["prompt_version"], record["case_id"]) == (
        "baseline:extractive",
        "v6",
        "case-001",
    )
    assert list(record["sections"]) == list(SECTIONS) and record["missing_sections"] == []
    assert record["sentences"] and all(s["citations"] for s in record["sentences"])  # v6 = v4 + citations
    assert open_history().get(record["id"]).output == record["output"]  # recorded in the test's data folder
    outputs = [
        output
        for cell in json.loads(executed.read_text(encoding="utf-8"))["cells"]
        for output in cell.get("outputs", [])
    ]
    text = "".join(
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    assert "2023-07-25 CT" in text  # the admission-day chest CT from the archive
    assert "・ 入院中の治療経過" in text and "LLMによる生成ではありません" in text
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    html = "".join("".join(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "<table" in html
    assert "✓" in html and "0725-医-H2" in html and "75歳男性" in html  # sentences and the entries they cite
