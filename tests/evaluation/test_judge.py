"""The LLM judge, against a fake backend registered like any other."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from workbench.errors import BackendError, SpecError
from workbench.evaluation.evaluate import evaluate_run
from workbench.evaluation.judge import CRITERIA, Judge, parse_reply
from workbench.evaluation.report import write_report
from workbench.summary.backends import BaseBackend, ModelRequest, ModelResponse, register_backend

CALLS: Counter[str] = Counter()


class FakeJudgeBackend(BaseBackend):
    """Answers like a judge. Modes: "good" (accurate 2 when the summary has バンコマイシン), "vary"
    (succinct alternates between calls), "garbage" (no JSON), "bad-score" (a score of 7)."""

    def __init__(self, model_id: str) -> None:
        self.name = f"judgefake:{model_id}"
        self.mode = model_id

    def generate(self, request: ModelRequest) -> ModelResponse:
        assert request.temperature == 0.0
        CALLS[self.mode] += 1
        summary = request.prompt.split("<summary>\n")[1].split("</summary>")[0]
        scores = {key: 4 for key in CRITERIA}
        scores["accurate"] = 2 if "バンコマイシン" in summary else 5
        if self.mode == "vary":
            scores["succinct"] = 3 + CALLS[self.mode] % 2
        if self.mode == "bad-score":
            scores["succinct"] = 7
        text = json.dumps(
            {k: {"score": v, "rationale": f"{k}の根拠"} for k, v in scores.items()}, ensure_ascii=False
        )
        if self.mode == "garbage":
            text = "申し訳ありませんが、この要約は評価できません。"
        return ModelResponse(
            text=f"```json\n{text}\n```",
            input_tokens=100,
            output_tokens=50,
            latency_ms=1,
            stop_reason="end_turn",
            truncated=False,
        )


@pytest.fixture(autouse=True)
def fake_backend() -> None:
    register_backend("judgefake", FakeJudgeBackend)
    CALLS.clear()


def test_judge_scores_and_caches() -> None:
    judge = Judge("judgefake:good", repeats=3)
    result = judge.judge("・ 現病歴\n肺炎。バンコマイシン投与。", "notes")
    assert result.failures == 0 and len(result.calls) == 3
    assert result.score("accurate") == 2.0 and result.score("succinct") == 4.0
    assert result.agreement() == 1.0
    assert result.calls[0].rationales["thorough"] == "thoroughの根拠"
    assert CALLS["good"] == 3
    again = Judge("judgefake:good", repeats=3).judge("・ 現病歴\n肺炎。バンコマイシン投与。", "notes")
    assert CALLS["good"] == 3  # every repeat came from the response cache
    assert all(call.cache_hit for call in again.calls)


def test_repeat_agreement() -> None:
    result = Judge("judgefake:vary", repeats=4, use_cache=False).judge("summary", "notes")
    assert [c.scores["succinct"] for c in result.calls] == [4, 3, 4, 3]
    assert result.score("succinct") == 3.5
    per_criterion = [1.0] * (len(CRITERIA) - 1) + [2 / 6]  # succinct: 2 of its 6 pairs agree
    assert result.agreement() == pytest.approx(sum(per_criterion) * 6 / (6 * len(CRITERIA)))
    assert result.agreement(tolerance=1) == 1.0


@pytest.mark.parametrize(("mode", "error"), [("garbage", "no JSON object"), ("bad-score", "'succinct'")])
def test_unparseable_reply_is_a_recorded_failure(mode: str, error: str) -> None:
    result = Judge(f"judgefake:{mode}", repeats=2).judge("summary", "notes")
    assert result.failures == 2
    assert all(error in (c.error or "") and c.scores == {} for c in result.calls)
    row = result.row()
    assert row["judging_failures"] == 2 and row["judge_succinct"] != row["judge_succinct"]  # NaN


def test_parse_reply_variants() -> None:
    good = json.dumps({k: {"score": "5", "rationale": "ok"} for k in CRITERIA})
    assert parse_reply(f"評価です。\n{good}\n以上").scores == dict.fromkeys(CRITERIA, 5)
    assert parse_reply("{not json}").error.startswith("the reply's JSON does not parse")
    partial = json.dumps({"succinct": {"score": 5}})
    assert "'cited'" in parse_reply(partial).error  # the first of the nine that is missing


def test_evaluate_run_with_the_specs_judge(sample_run: Path) -> None:
    evaluation = evaluate_run(sample_run, judge=True, progress=False)
    rows = evaluation.scores.rows
    # The spec says repeats: 2. The sample's 4 second repeats are their first outputs word for word: their
    # judge prompts are the same calls, answered by the cache.
    distinct = len(rows) - 4
    assert CALLS["x"] == 2 * distinct
    assert evaluation.judge_model == "judgefake:x"
    b = rows[rows["model"] == "bedrock:model-b"]["judge_accurate"]
    a = rows[rows["model"] == "bedrock:model-a"]["judge_accurate"]
    assert (b == 2).all() and (a == 5).all()
    assert "judge_accurate" in set(evaluation.metrics["metric"])
    evaluate_run(sample_run, judge=True, progress=False)
    assert CALLS["x"] == 2 * distinct  # judging the run again costs nothing


def test_judge_errors_come_before_any_work(sample_run: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="unknown model backend 'nope'"):
        evaluate_run(sample_run, judge="nope:x", progress=False)
    bare = tmp_path / "run"
    bare.mkdir()
    (bare / "manifest.json").write_text('{"run_id": "r", "spec": {}, "cases": {}}')
    with pytest.raises(SpecError, match=r"no judge model in its spec.*--judge MODEL \(e.g. --judge bedrock:"):
        evaluate_run(bare, judge=True, progress=False)


def test_report_with_judge(sample_run: Path, tmp_path: Path) -> None:
    path = write_report(sample_run, tmp_path / "judged", judge="judgefake:good")
    page = path.read_text(encoding="utf-8")
    assert "LLM judge (judgefake:good)" in page and "Judge: accurate" in page
    judged = pd.read_csv(path.parent / "judge.csv")
    assert judged["judging_failures"].eq(0).all() and judged["judging_exact_agreement"].eq(1.0).all()


def test_the_rubric_is_pdsqi9_with_all_nine_attributes() -> None:
    from workbench.evaluation.judge import build_prompt

    assert list(CRITERIA) == [
        "cited", "accurate", "thorough", "useful", "organized", "comprehensible", "succinct", "synthesized",
        "stigmatizing",
    ]
    prompt = build_prompt("summary", "notes")
    assert all(f'"{key}": {{"score": 1-5' in prompt for key in CRITERIA)
    row = Judge("judgefake:good", repeats=1).judge("summary", "notes").row()
    assert all(f"judge_{key}" in row and row[f"judge_{key}"] >= 1 for key in CRITERIA)


def test_the_report_shows_judge_physician_agreement_per_attribute(sample_run: Path, tmp_path: Path) -> None:
    import shutil

    from workbench.evaluation.ratings import save_ratings

    run = tmp_path / "rated"
    shutil.copytree(sample_run, run)
    first = evaluate_run(run, judge="judgefake:good", progress=False)
    assert first.agreement is None  # no ratings yet
    keys = first.scores.rows["key"].tolist()
    ratings = pd.DataFrame(
        [
            {"key": key, "rater": "dr_a", "criterion": criterion,
             "score": 2 if "model-b" in key and criterion == "accurate" else 4 + i % 2}
            for i, key in enumerate(keys)
            for criterion in CRITERIA
        ]
    )
    save_ratings(ratings, run)
    evaluation = evaluate_run(run, judge="judgefake:good", progress=False)
    agreement = evaluation.agreement.set_index("criterion")
    assert list(agreement.index) == list(CRITERIA) and (agreement["n"] == len(keys)).all()
    assert agreement.loc["accurate", "spearman_rho"] > 0.5
    page = write_report(run, tmp_path / "out", evaluation=evaluation).read_text(encoding="utf-8")
    assert "Judge and physicians, per PDSQI-9 attribute" in page and "stigmatizing" in page
    assert (tmp_path / "out" / "agreement.csv").is_file()
