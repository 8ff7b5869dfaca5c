"""Citing prompts (v5, v6): IDs in what the model reads, cited sentences in what is recorded."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.summary.backends import BaseBackend, CaseInput, ModelRequest, ModelResponse, register_backend
from workbench.summary.backends.baseline import BaselineBackend
from workbench.summary.cache import ResponseCache, open_cache
from workbench.summary.cases import Source, load_case
from workbench.summary.generate import prepare, summarize
from workbench.summary.history import Generation, History, open_history

from .conftest import CORPUS

CASE_001 = CORPUS / "case-001"


class Ignorer(BaseBackend):
    """A model that ignores the citation syntax (and one sentence cites an ID that does not exist)."""

    answer = (
        "・ 現病歴\n発熱で入院した。肺炎と診断した。\n・ 併存症\n糖尿病[0101-医-O9]\n"
        "・ 重大な身体所見およびその他の所見\nSpO2 89%\n・ 入院中の治療経過\n退院した。"
    )

    def __init__(self, model_id: str) -> None:
        self.name = f"ignorer:{model_id}"

    def generate(self, request: ModelRequest) -> ModelResponse:
        return ModelResponse(self.answer, 10, 10, 1, "end_turn", False)


@pytest.fixture
def stores(tmp_path: Path) -> tuple[History, ResponseCache]:
    return open_history(tmp_path / "history.sqlite"), open_cache(tmp_path / "cache.sqlite")


def test_citing_prompts_show_entry_ids(registry) -> None:
    case = load_case(CASE_001)
    assert registry.get("v5").citations and registry.get("v6").citations
    assert not registry.get("v3").citations
    cited = prepare(case, "v5", "baseline:extractive", "both", registry=registry).request.prompt
    plain = prepare(case, "v3", "baseline:extractive", "both", registry=registry).request.prompt
    assert "<S>[0725-医-S1][医師] 3日前から熱が下がらない" in cited
    assert "[0725-医-H2]【現病歴】" in cited
    assert "[0725-医-S1]" not in plain


def test_baseline_cites_every_sentence_and_history_and_cache_keep_them(registry, stores) -> None:
    history, cache = stores
    case = load_case(CASE_001)
    generation = summarize(case, "v5", "baseline:extractive", "both", history=history, cache=cache,
                           registry=registry)
    assert len(generation.sentences) >= 10
    assert all(s["citations"] and not s["invalid_citations"] for s in generation.sentences)
    assert {s["section"] for s in generation.sentences} == set(generation.sections)
    assert history.get(generation.id).sentences == generation.sentences
    again = summarize(case, "v5", "baseline:extractive", "both", history=history, cache=cache,
                      registry=registry)
    assert again.cache_hit and again.sentences == generation.sentences
    plain = summarize(case, "v3", "baseline:extractive", "both", history=history, cache=cache,
                      registry=registry)
    assert plain.sentences and all(not s["citations"] for s in plain.sentences)
    assert "[0725-" not in plain.output


def test_the_baseline_cites_when_its_case_input_says_the_prompt_does() -> None:
    case = load_case(CASE_001)
    request = ModelRequest(system=None, prompt="summarise", max_tokens=100)
    baseline = BaselineBackend("extractive")
    cited = baseline.generate(request, CaseInput(case, Source.BOTH, cite=True)).text
    plain = baseline.generate(request, CaseInput(case, Source.BOTH)).text
    assert "[0725-医-H2]" in cited and "[0725-" not in plain
    contexts = {CaseInput(case, Source.BOTH, cite=cite).cache_context() for cite in (True, False)}
    assert len(contexts) == 2  # a cited and a plain baseline answer are cached apart


def test_a_model_ignoring_the_syntax_is_recorded_uncited(registry, stores) -> None:
    history, cache = stores
    register_backend("ignorer", Ignorer)
    generation = summarize(load_case(CASE_001), "v5", "ignorer:x", "both", history=history, cache=cache,
                           registry=registry)
    stored = history.get(generation.id)
    assert [s["citations"] for s in stored.sentences] == [[]] * 5
    assert stored.sentences[2]["invalid_citations"] == ["0101-医-O9"]


def test_an_old_history_gains_the_sentences_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old_columns = [f.name for f in dataclasses.fields(Generation) if f.name != "sentences"]
    with sqlite3.connect(path) as connection:
        connection.execute(f"CREATE TABLE generations ({', '.join(old_columns)})")
        connection.execute(
            "INSERT INTO generations (id, timestamp, params, sections, missing_sections, extra_sections, "
            "truncated, cache_hit, redacted) VALUES ('old', '2026-01-01T00:00:00+00:00', '{}', '{}', "
            "'[]', '[]', 0, 0, 0)"
        )
    history = open_history(path)
    columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(generations)")}
    assert "sentences" in columns
    assert history.get("old").sentences == []


def test_cli_v5_prints_cited_sentences_and_json(capsys) -> None:
    argv = ["summarize", "--case", str(CASE_001), "--prompt", "v5", "--model", "baseline:extractive",
            "--source", "both"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "[0725-医-H2]" in out and "sentences cited, 0 with invalid citations" in err
    assert main([*argv, "--no-markers"]) == 0
    out, _ = capsys.readouterr()
    assert "[0725-" not in out and "・ 入院中の治療経過" in out
    assert main([*argv, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["sentences"] and all(s["citations"] for s in record["sentences"])
    assert set(record["sentences"][0]) == {"section", "text", "citations", "invalid_citations"}


def test_the_citation_flag_survives_export_and_import(registry) -> None:
    registry.from_bedrock(registry.to_bedrock("v5"), version="v5b")
    registry.from_mlflow(registry.to_mlflow("v5"), version="v5m")
    assert registry.get("v5b").citations and registry.get("v5m").citations
    registry.from_bedrock(registry.to_bedrock("v3"), version="v3b")
    assert not registry.get("v3b").citations
