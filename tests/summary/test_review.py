"""Physician review in the assistant: sentences with their cited entries, section edits, acceptance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.errors import NotFoundError, WorkbenchError
from workbench.summary.assistant import SummaryAssistant, cited_entries, sentence_options
from workbench.summary.cache import open_cache
from workbench.summary.cases import load_case
from workbench.summary.citations import Sentence
from workbench.summary.generate import summarize
from workbench.summary.history import open_history
from workbench.summary.review import open_review, open_review_store

from .conftest import CORPUS


@pytest.fixture
def case():
    return load_case(CORPUS / "case-001")


def test_cited_entries_and_marks(case) -> None:
    sentence = Sentence(
        "入院中の治療経過", "抗菌薬を変更。[0728-医-A1, 0999-医-A1]", ["0728-医-A1"], ["0999-医-A1"]
    )
    table = cited_entries(case, sentence)
    assert table.to_dict("records")[0] | {"text": ""} == {
        "id": "0728-医-A1", "date": "2023-07-28", "author": "医師", "part": "A (評価)", "heading": "",
        "text": "", "valid": True,
    }
    assert table["valid"].tolist() == [True, False]
    options = sentence_options([sentence, Sentence("現病歴", "発熱。", [], [])])
    assert options == [("✗ [入院中の] 抗菌薬を変更。", 0), ("？ [現病歴] 発熱。", 1)]


def test_a_review_in_the_widget_is_stored_beside_the_draft(case, registry, tmp_path: Path) -> None:
    history = open_history(tmp_path / "history.sqlite")
    assistant = SummaryAssistant([case], ["baseline:extractive"], registry=registry, history=history,
                                 cache=open_cache(tmp_path / "c.sqlite"))
    assistant.widget()
    w = assistant._widgets
    assert w["accept"].disabled
    w["source"].value = "both"
    w["version"].value = "v5"
    w["submit"].click()
    generation = assistant.last_result.generation
    assert len(w["sentences"].options) == len(generation.sentences) > 5
    assert all(label.startswith("✓") for label, _ in w["sentences"].options)
    assert "[0725-" not in w["sentences"].options[0][0]
    w["markers"].value = True
    assert "[0725-医-H2]" in w["sentences"].options[0][0]
    w["sentences"].value = 0
    assert "0725-医-H2" in w["cited"].value and "75歳男性" in w["cited"].value and "医師" in w["cited"].value
    # the draft in the section boxes has no markers; the physician edits one section and accepts
    course = w["edits"]["入院中の治療経過"]
    assert "[0725-" not in course.value and course.value
    original = course.value
    course.value = original.replace("解熱傾向", "7月29日より解熱した。")
    w["reviewer"].value = "dr-sato"
    w["accept"].click()
    assert "accepted by dr-sato" in w["review_status"].value, w["review_status"].value
    reviews = open_review_store(history).reviews(generation.id)
    assert len(reviews) == 1
    review = reviews[0]
    assert review.reviewer == "dr-sato" and review.channel == "assistant"
    assert review.draft["入院中の治療経過"] == original
    assert "7月29日より解熱した。" in review.accepted["入院中の治療経過"]
    assert review.accepted["現病歴"] == review.draft["現病歴"]
    assert review.seconds_to_accept >= 0 and review.opened_at <= review.accepted_at
    assert history.get(generation.id).output == generation.output  # the draft is never overwritten
    assert w["accept"].disabled


def test_review_of_an_unknown_generation_writes_nothing(case, tmp_path: Path) -> None:
    history = open_history(tmp_path / "history.sqlite")
    store = open_review_store(history)
    with pytest.raises(NotFoundError, match="no generation 'nope' to review"):
        open_review(history, "nope")
    generation = summarize(case, "v3", "baseline:extractive", "doctor", history=history,
                           cache=open_cache(tmp_path / "c.sqlite"))
    review = open_review(history, generation.id, reviewer="a")
    with pytest.raises(WorkbenchError, match="not accepted"):
        store.record(review)
    review.generation_id = "nope"
    with pytest.raises(NotFoundError):
        store.record(review.accept())
    assert store.reviews() == []
    assert json.loads(json.dumps(store.frame().to_dict("records"))) == []


def test_reviews_need_a_history_they_can_sit_beside(case, tmp_path: Path) -> None:
    class Elsewhere:  # a History kept neither in SQLite nor in shared storage
        def get(self, id: str) -> None:
            raise NotFoundError(id)

    with pytest.raises(WorkbenchError, match="not a Elsewhere; open the history with"):
        open_review_store(Elsewhere())  # type: ignore[arg-type]
    assert open_review_store(open_history(tmp_path / "h.sqlite")).reviews() == []
