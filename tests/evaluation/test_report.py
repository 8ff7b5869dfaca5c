"""The HTML report and its CSVs."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from workbench.evaluation.report import CSV_FILES, DIFF_STYLE, difference_html, mark_differences, write_report
from workbench.evaluation.tokenize import tokenizer_info
from workbench.records.manifest import read_manifest


def test_write_report(sample_run: Path) -> None:
    path = write_report(sample_run)
    assert path == sample_run / "report" / "report.html"  # default: inside the run folder
    page = path.read_text(encoding="utf-8")
    assert sample_run.name in page
    assert len(re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', page)) == 3
    assert "ROUGE-L (MeCab)" in page and "Wilcoxon" in page and "cost_per_summary_usd" in page
    assert page.count("<details>") >= 4 * 8  # every case, every configuration
    assert "<ins>バンコマイシン" in page  # model-b's invented drug, marked in the drill-down
    assert "LLM judge" not in page  # no judge unless asked
    # the report, not the run manifest, records the tokenizer and dictionary it scored with
    assert not read_manifest(sample_run).get("tokenizer")
    assert tokenizer_info()["dictionary_version"] in page and "unidic-lite" in page
    assert DIFF_STYLE in page  # the notebook's drill-down uses the same style (difference_html)
    for name in ("scores", "sections", "metrics", "paired", "costs"):
        assert (path.parent / CSV_FILES[name]).is_file()
    assert not (path.parent / CSV_FILES["judge"]).exists()
    metrics = pd.read_csv(path.parent / "metrics.csv")
    expected = {"rougeL", "fact_recall", "unsupported_rate", "n_claims", "uncheckable_share"}
    assert expected <= set(metrics["metric"])
    assert {"n", "n_cases"} <= set(metrics.columns)
    assert {"n", "n_cases", "p_adjusted"} <= set(pd.read_csv(path.parent / "paired.csv").columns)
    assert "n_cases" in set(pd.read_csv(path.parent / "costs.csv").columns)
    # every HTML table shows its n, and the report names its interval and its correction
    tables = re.findall(r"<table.*?</table>", page, flags=re.DOTALL)
    assert len(tables) >= 3 and all(re.search(r"<th[^>]*>n(_cases)?</th>", t) for t in tables)
    assert "Student t" in page and "Benjamini-Hochberg" in page


def test_mark_differences() -> None:
    marked = str(mark_differences("発熱し<b>CTRX</b>を開始した。", "発熱しCTRXを開始した。"))
    assert marked == "発熱し<ins>&lt;b&gt;</ins>CTRX<ins>&lt;/b&gt;</ins>を開始した。"
    assert str(mark_differences("解熱した。", "解熱せず。")) == "解熱<del>せず</del><ins>した</ins>。"


def test_difference_html_is_styled_as_in_the_report() -> None:
    html = str(difference_html("解熱した。", "解熱せず。"))
    assert html.startswith(f"<style>{DIFF_STYLE}</style>") and "<del>せず</del><ins>した</ins>" in html
