"""Run notebook 04 headless on a sample run folder written per the experiments contract."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.notebooks.parameters import tiny_parameters


@pytest.mark.notebook
def test_04_evaluation_report(run_notebook, tmp_path: Path) -> None:
    parameters = tiny_parameters("04_evaluation_report", tmp_path)  # writes a sample run into runs_dir
    (run_dir,) = Path(parameters["runs_dir"]).iterdir()
    out = Path(parameters["output_dir"])
    executed = run_notebook("04_evaluation_report", **parameters)
    report = (out / "report.html").read_text(encoding="utf-8")
    assert run_dir.name in report and "<del>" in report
    metrics = pd.read_csv(out / "metrics.csv")
    v2 = metrics[(metrics["prompt_version"] == "v2") & (metrics["metric"] == "fact_recall")]
    v1 = metrics[(metrics["prompt_version"] == "v1") & (metrics["metric"] == "fact_recall")]
    assert v2["mean"].min() > v1["mean"].max()
    key = pd.read_csv(out / "ratings" / "ratings_key.csv")
    assert set(key["model"]) == {"bedrock:model-a", "bedrock:model-b", "physician"}
    assert (out / "ratings" / "ratings_sheet.xlsx").is_file()
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    outputs = [o for cell in cells for o in cell.get("outputs", [])]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 3  # metrics, sections, cost
    html = "".join("".join(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "ROUGE-L (MeCab)" in html and "<ins>" in html
    assert "Citation coverage" in html  # the citation table: blank cells for v1/v2, which cite nothing
