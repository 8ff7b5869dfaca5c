"""Blinded physician rating sheets: export, fill, import, agreement with the judge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from workbench.errors import WorkbenchError
from workbench.evaluation.judge import CRITERIA
from workbench.evaluation.ratings import export_sheet, import_ratings, judge_agreement
from workbench.evaluation.runs import load_run
from workbench.evaluation.score import load_run_cases


@pytest.fixture
def exported(sample_run: Path, tmp_path: Path) -> tuple:
    manifest, results = load_run(sample_run)
    cases = load_run_cases(manifest)
    return results, cases, export_sheet(results, cases, tmp_path / "sheet", seed=3)


def test_sheet_is_blinded_and_shuffled(exported: tuple) -> None:
    results, cases, paths = exported
    sheet = pd.read_csv(paths.csv, encoding="utf-8-sig")
    assert list(sheet.columns) == ["item_id", "case_id", "summary", *CRITERIA, "comment"]
    n_outputs = int((results["repeat"] == 0).sum())
    assert len(sheet) == n_outputs + len(cases)  # first repeats plus one physician summary per case
    text = paths.csv.read_text(encoding="utf-8-sig") + str(
        openpyxl.load_workbook(paths.xlsx)["ratings"].values
    )
    for secret in ("bedrock:", "model-a", "v1", "physician", "prompt"):
        assert secret not in text
    key = pd.read_csv(paths.key)
    assert set(key["item_id"]) == set(sheet["item_id"])
    order = key.merge(results[["key"]].reset_index(), on="key", how="left")["index"].dropna()
    assert not order.is_monotonic_increasing  # shuffled
    again = export_sheet(results, cases, paths.csv.parent / "again", seed=3)
    assert pd.read_csv(again.key)["key"].tolist() == key["key"].tolist()  # the seed fixes the order


def test_xlsx_validates_scores(exported: tuple) -> None:
    _, _, paths = exported
    sheet = openpyxl.load_workbook(paths.xlsx)["ratings"]
    validation = sheet.data_validations.dataValidation[0]
    assert (validation.type, validation.formula1, validation.formula2) == ("whole", "1", "5")
    assert [c.value for c in sheet[1]][3] == "cited"  # the first PDSQI-9 attribute


def _fill(paths: object, tmp_path: Path, *, noise: int) -> tuple[Path, Path]:
    """Fill the sheet like a physician would: physicians see through model-b's invented drug."""
    key = pd.read_csv(paths.key).set_index("item_id")  # type: ignore[attr-defined]
    rng = np.random.default_rng(noise)
    book = openpyxl.load_workbook(paths.xlsx)  # type: ignore[attr-defined]
    ws = book["ratings"]
    header = [c.value for c in ws[1]]
    csv_rows = []
    for row in ws.iter_rows(min_row=2):
        item = row[0].value
        hallucinated = key.loc[item, "model"] == "bedrock:model-b"
        worse = key.loc[item, "prompt_version"] == "v1"
        scores = {"accurate": 2 if hallucinated else 5, "thorough": 2 if worse else 5}
        for criterion in CRITERIA:
            value = scores.get(criterion, 4)
            value = int(np.clip(value + (rng.integers(-1, 2) if noise else 0), 1, 5))
            row[header.index(criterion)].value = value
        csv_rows.append({"item_id": item, **{c: row[header.index(c)].value for c in CRITERIA}})
    filled_xlsx = tmp_path / "dr_a.xlsx"
    book.save(filled_xlsx)
    filled_csv = tmp_path / "dr_b.csv"
    pd.DataFrame(csv_rows).to_csv(filled_csv, index=False)
    return filled_xlsx, filled_csv


def test_round_trip_and_agreement(exported: tuple, tmp_path: Path) -> None:
    _results, _, paths = exported
    filled_xlsx, _ = _fill(paths, tmp_path, noise=0)
    (tmp_path / "noisy").mkdir()
    _, noisy_csv = _fill(paths, tmp_path / "noisy", noise=1)
    ratings = pd.concat(
        [import_ratings(filled_xlsx, paths.key), import_ratings(noisy_csv, paths.key, rater="dr_b")]
    )
    assert set(ratings["rater"]) == {"dr_a", "dr_b"}
    n_items = len(pd.read_csv(paths.key))
    assert len(ratings) == 2 * n_items * len(CRITERIA)
    a = ratings[(ratings["rater"] == "dr_a") & (ratings["criterion"] == "accurate")]
    assert (a.loc[a["model"] == "bedrock:model-b", "score"] == 2).all()  # unblinded through the key
    # A judge that agrees with the physicians on the two criteria that vary.
    keys = pd.read_csv(paths.key)
    judged = pd.DataFrame(
        {
            "key": keys["key"],
            **{f"judge_{c}": 4.0 for c in CRITERIA},
            "judge_accurate": np.where(keys["model"] == "bedrock:model-b", 1.5, 4.5),
            "judge_thorough": np.where(keys["prompt_version"] == "v1", 2.0, 5.0),
        }
    )
    agreement = judge_agreement(ratings, judged).set_index("criterion")
    assert agreement.loc["accurate", "n"] == n_items
    assert agreement.loc["accurate", "spearman_rho"] > 0.8
    assert agreement.loc["thorough", "icc2_1"] > 0.8
    assert 0 < agreement.loc["thorough", "physician_icc2_1"] < 1  # dr_b is noisy
    assert np.isnan(agreement.loc["succinct", "spearman_rho"])  # the judge gives 4 to everything
    shuffled = judged.assign(
        judge_accurate=judged["judge_accurate"].sample(frac=1, random_state=0).values
    )
    assert judge_agreement(ratings, shuffled).set_index("criterion").loc["accurate", "icc2_1"] < 0.5


def test_import_rejects_bad_scores(exported: tuple, tmp_path: Path) -> None:
    _, _, paths = exported
    sheet = pd.read_csv(paths.csv, encoding="utf-8-sig")
    sheet.loc[:, list(CRITERIA)] = 3
    sheet.loc[4, "thorough"] = 7
    bad = tmp_path / "bad.csv"
    sheet.to_csv(bad, index=False)
    with pytest.raises(WorkbenchError, match=r"bad.csv:6: thorough of item-\d+ is 7"):
        import_ratings(bad, paths.key)
    sheet.loc[4, "thorough"] = None  # blank cells are skipped
    sheet.to_csv(bad, index=False)
    assert len(import_ratings(bad, paths.key)) == len(sheet) * len(CRITERIA) - 1
    other_key = tmp_path / "other_key.csv"
    pd.read_csv(paths.key).head(3).to_csv(other_key, index=False)
    with pytest.raises(WorkbenchError, match="is it the key of this sheet"):
        import_ratings(bad, other_key)
