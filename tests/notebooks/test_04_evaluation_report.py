"""Run notebook 04 headless on a sample run folder written per the experiments contract."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _write_sample_run(run_dir: Path) -> Path:
    """tests/evaluation/sample_run.py (not a package: loaded by path)."""
    path = ROOT / "tests" / "evaluation" / "sample_run.py"
    spec = importlib.util.spec_from_file_location("sample_run", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.write_sample_run(run_dir)


@pytest.mark.notebook
def test_04_evaluation_report(run_notebook, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    run_dir = _write_sample_run(runs / "20261129T210000-sample")
    out = tmp_path / "report"
    executed = run_notebook("04_evaluation_report", run_dir="", runs_dir=str(runs), output_dir=str(out))
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
