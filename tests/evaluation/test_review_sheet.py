"""``workbench review export|import``: drafts out on a blinded sheet, accepted text back beside the draft."""

from __future__ import annotations

import stat
from pathlib import Path

import pandas as pd
import pytest

from workbench.cli import main
from workbench.summary.cases import load_case
from workbench.summary.generate import summarize
from workbench.summary.history import open_history
from workbench.summary.review import open_review_store

CASE_001 = Path(__file__).resolve().parents[2] / "eval" / "cases" / "case-001"


@pytest.fixture
def generations() -> list[str]:
    case = load_case(CASE_001)
    return [summarize(case, v, "baseline:extractive", "both").id for v in ("v3", "v5")]


def test_export_edit_import(generations, tmp_path: Path, capsys) -> None:
    out = tmp_path / "sheet"
    assert main(["review", "export", *generations, "-o", str(out)]) == 0
    sheet_csv, key = out / "review_sheet.csv", out / "review_key.csv"
    assert stat.S_IMODE(sheet_csv.stat().st_mode) == 0o600 and (out / "review_sheet.xlsx").is_file()
    sheet = pd.read_csv(sheet_csv, encoding="utf-8-sig")
    assert list(sheet.columns) == ["item_id", "case_id", "section", "draft", "accepted"]
    assert len(sheet) == 8 and "generation_id" not in sheet.columns  # blinded: no model, prompt or id
    assert not sheet["draft"].str.contains(r"\[0725-", regex=True).any()  # markers removed for editing
    row = sheet.index[sheet["section"] == "併存症"][0]
    sheet.loc[row, "accepted"] = "2型糖尿病、高血圧症"
    filled = tmp_path / "dr-tanaka.csv"
    sheet.to_csv(filled, index=False, encoding="utf-8-sig")
    assert main(["review", "import", str(filled), "--key", str(key)]) == 0
    assert capsys.readouterr().out.count("by dr-tanaka") == 1 + 1
    reviews = open_review_store(open_history()).reviews()
    assert {r.generation_id for r in reviews} == set(generations)
    edited = [r for r in reviews if r.accepted["併存症"] == "2型糖尿病、高血圧症"]
    assert len(edited) == 1 and edited[0].channel == "sheet"
    assert edited[0].draft["併存症"] != "2型糖尿病、高血圧症"


def test_bad_sheets_write_nothing(generations, tmp_path: Path, capsys) -> None:
    main(["review", "export", generations[0], "-o", str(tmp_path / "a")])
    main(["review", "export", generations[1], "-o", str(tmp_path / "b")])
    capsys.readouterr()
    status = main(["review", "import", str(tmp_path / "a" / "review_sheet.csv"),
                   "--key", str(tmp_path / "b" / "review_key.csv")])
    err = capsys.readouterr().err
    assert status != 0 and err.startswith("workbench: error: ") and err.count("\n") == 1
    assert "key" in err
    status = main(["review", "export", "no-such-generation", "-o", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert status != 0 and "no generation 'no-such-generation'" in err and err.count("\n") == 1
    assert not (tmp_path / "c").exists()
    assert open_review_store(open_history()).reviews() == []


def test_history_show_lists_the_reviews(generations, tmp_path: Path, capsys) -> None:
    out = tmp_path / "sheet"
    main(["review", "export", generations[1], "-o", str(out)])
    assert main(["review", "import", str(out / "review_sheet.csv"), "--key", str(out / "review_key.csv"),
                 "--reviewer", "dr-ito"]) == 0
    capsys.readouterr()
    assert main(["history", "--show", generations[1]]) == 0
    shown = capsys.readouterr().out
    assert "[0725-医-H2]" in shown and "--- accepted by dr-ito" in shown and "via sheet" in shown
    assert main(["history", "--show", generations[1], "--format", "json"]) == 0
    assert '"reviewer": "dr-ito"' in capsys.readouterr().out
