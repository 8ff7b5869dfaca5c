"""Scoring a run: directions the sample run was built to show."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.evaluation.sample_run import HALLUCINATION
from workbench.errors import NotFoundError
from workbench.evaluation.runs import load_run
from workbench.evaluation.score import REFERENCE_SYSTEM, load_run_cases, score_output, score_run
from workbench.summary.sections import SECTIONS


@pytest.fixture(scope="module")
def scored(sample_run: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    manifest, results = load_run(sample_run)
    scores = score_run(results, load_run_cases(manifest), progress=False)
    return scores.rows, scores.sections


def _mean(rows: pd.DataFrame, metric: str, **where: str) -> float:
    mask = pd.Series(True, index=rows.index)
    for column, value in where.items():
        mask &= rows[column] == value
    return float(rows.loc[mask, metric].mean())


def test_better_output_scores_higher(scored: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rows, _ = scored
    for metric in ("rouge1", "rouge2", "rougeL", "rougeL_char", "chrf", "fact_recall"):
        assert _mean(rows, metric, prompt_version="v2") > _mean(rows, metric, prompt_version="v1"), metric
    assert _mean(rows, "length_ratio", prompt_version="v1") < 0.9


def test_hallucinating_model_has_unsupported_content(scored: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rows, _ = scored
    v2 = rows[(rows["prompt_version"] == "v2") & (rows["repeat"] == 0)]
    a = v2[v2["model"] == "bedrock:model-a"].set_index(["source", "case_id"])
    b = v2[v2["model"] == "bedrock:model-b"].set_index(["source", "case_id"])
    assert (
        a["unsupported_rate"] == 0
    ).all()  # the reference reworded: every number, date, drug is in the notes
    assert (b["unsupported_rate"] > a.loc[b.index, "unsupported_rate"]).all()
    assert "バンコマイシン" in HALLUCINATION
    assert all("バンコマイシン" in u and "1500mg" in u for u in b["unsupported"])


def test_physician_rows(scored: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rows, _ = scored
    physician = rows[rows["prompt_version"] == REFERENCE_SYSTEM]
    assert len(physician) == 4 * 2  # cases x sources
    assert physician["rougeL"].isna().all()  # comparing the reference with itself means nothing
    assert (physician["section_completeness"] == 1.0).all()
    assert (physician["length_ratio"] == 1.0).all()
    assert physician["fact_recall"].between(0, 1).all()


def test_sections(scored: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, sections = scored
    assert set(sections["section"]) == set(SECTIONS)
    v1 = sections[sections["prompt_version"] == "v1"].groupby("section")["rougeL"].mean()
    assert v1["入院中の治療経過"] < 0.6 < v1["併存症"]  # v1 drops most of the course


def test_score_output_of_the_reference_itself(sample_run: Path) -> None:
    manifest, _ = load_run(sample_run)
    case = next(iter(load_run_cases(manifest).values()))
    values = score_output(case.reference, case, "both")
    assert values["rouge1"] == values["rougeL_char"] == 1.0
    assert values["chrf"] == pytest.approx(1.0)


def test_unknown_case(sample_run: Path) -> None:
    _, results = load_run(sample_run)
    with pytest.raises(NotFoundError, match="which was not given"):
        score_run(results, {}, progress=False)


def test_moved_case_folder(sample_run: Path) -> None:
    manifest, _ = load_run(sample_run)
    with pytest.raises(NotFoundError, match="is not at /nowhere"):
        load_run_cases({**manifest, "cases": {"case-x": "/nowhere/case-x"}})


def test_a_narrative_summary_counts_zero_claims(sample_run: Path) -> None:
    import math

    manifest, _ = load_run(sample_run)
    case = next(iter(load_run_cases(manifest).values()))
    values = score_output("・ 現病歴\n植込み型除細動器を留置した。\n外来で経過観察とした。", case, "both")
    assert values["n_claims"] == 0 and values["uncheckable_share"] == 1.0
    assert math.isnan(values["unsupported_rate"])  # undefined, and counted as missing in tables (n = k of N)
