"""Citation metrics and physician edit metrics in the report, from a real baseline run and a widget review."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import yaml

from workbench.cli import main
from workbench.evaluation.citations import SupportChecker, output_citation_scores, section_edits
from workbench.evaluation.evaluate import evaluate_run
from workbench.evaluation.report import write_report
from workbench.evaluation.runs import load_run
from workbench.summary.assistant import SummaryAssistant
from workbench.summary.cases import load_case
from workbench.summary.history import open_history
from workbench.summary.review import Review

CASES = Path(__file__).resolve().parents[2] / "eval" / "cases"


def test_scores_of_one_output() -> None:
    checker = SupportChecker(load_case(CASES / "case-001"))
    output = (
        "・ 現病歴\n発熱で入院した。[0725-医-H2]\n・ 併存症\n記載なし\n"
        "・ 重大な身体所見およびその他の所見\nCRP 18.6mg/dLと高値。[0725-医-O1]\n"
        "・ 入院中の治療経過\n7月28日にTAZ/PIPCへ変更した。[0726-医-P1, 0999-医-P1]\n退院した。"
    )
    scores = output_citation_scores(output, checker)
    assert scores["n_sentences"] == 4  # 記載なし is not counted
    assert scores["citation_coverage"] == 3 / 4
    assert scores["citation_validity"] == 3 / 4
    # 発熱で入院した has nothing to check; CRP is in 0725-医-O1; TAZ/PIPC on 7/28 is not in 7/26's plan
    assert scores["n_checked"] == 2 and scores["citation_support"] == 1 / 2
    assert scores["unsupported_sentences"] == ["7月28日にTAZ/PIPCへ変更した。[0726-医-P1, 0999-医-P1]"]


def test_section_edits() -> None:
    review = Review("r", "g", "dr", "2026-12-04T10:00:00+09:00",
                    {"現病歴": "発熱あり。咳あり。", "併存症": "COPD"},
                    {"現病歴": "発熱あり。咳なし。", "併存症": "COPD"}, "2026-12-04T10:01:30+09:00")
    rows = {r["section"]: r for r in section_edits(review)}
    assert rows["併存症"]["edit_distance"] == 0 and rows["併存症"]["sentences_unchanged"] == 1
    assert rows["現病歴"]["edit_distance"] == 2 / 9  # あり -> なし
    assert rows["現病歴"]["sentences_unchanged"] == 1 / 2
    assert rows["現病歴"]["seconds_to_accept"] == 90


def test_report_has_citation_and_edit_metrics(tmp_path: Path, capsys) -> None:
    folders = [str(p) for p in sorted(CASES.iterdir())[:3]]
    spec = tmp_path / "spec.yaml"
    design = {"name": "cite", "prompts": ["v3", "v5"], "models": ["baseline:extractive"], "sources": ["both"],
              "cases": folders, "repeats": 1}
    spec.write_text(yaml.safe_dump(design), encoding="utf-8")
    assert main(["experiment", "run", str(spec), "--runs-dir", str(tmp_path / "runs"), "--no-progress"]) == 0
    (run_dir,) = list((tmp_path / "runs").iterdir())
    _, results = load_run(run_dir)
    target = results[(results["prompt_version"] == "v5") & (results["case_id"] == "case-001")].iloc[0]

    # a physician opens the run's draft from the History screen, edits one section and accepts
    assistant = SummaryAssistant([load_case(f) for f in folders], history=open_history())
    assistant.widget()
    w = assistant._widgets
    w["open_id"].value = target["generation_id"]
    w["open"].click()
    assert w["tab"].selected_index == 0 and all(o[0].startswith("✓") for o in w["sentences"].options)
    w["edits"]["併存症"].value = "2型糖尿病、高血圧症、脂質異常症"
    w["accept"].click()
    assert "accepted by" in w["review_status"].value

    evaluation = evaluate_run(run_dir, progress=False)
    citations = evaluation.citations.set_index(["prompt_version", "metric"])
    assert citations.loc[("v5", "citation_coverage"), "mean"] == 1.0
    assert citations.loc[("v5", "citation_validity"), "mean"] == 1.0
    assert citations.loc[("v5", "citation_support"), "n"] == 3
    assert citations.loc[("v5", "citation_support"), "mean"] >= 0.9
    assert citations.loc[("v3", "citation_coverage"), "n"] == 0  # no citations asked: blank, not zero
    assert math.isnan(citations.loc[("v3", "citation_coverage"), "mean"])
    edits = evaluation.edits.set_index(["prompt_version", "section", "metric"])
    assert edits.loc[("v5", "併存症", "edit_distance"), "n"] == 1
    assert 0 < edits.loc[("v5", "併存症", "edit_distance"), "mean"] < 1
    assert edits.loc[("v5", "現病歴", "edit_distance"), "mean"] == 0
    assert edits.loc[("v5", "現病歴", "sentences_unchanged"), "mean"] == 1
    assert set(evaluation.edits["prompt_version"]) == {"v5"}

    page = write_report(run_dir, evaluation=evaluation).read_text(encoding="utf-8")
    assert "Citations and physician edits" in page and "(n=3)" in page and "Seconds to accept" in page
    table = pd.read_csv(run_dir / "report" / "citations.csv")
    assert set(table["prompt_version"]) == {"v3", "v5"}
