"""Reviews beside a history kept in team storage: one object per review, never over the draft."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import NotFoundError
from workbench.summary.cases import load_case
from workbench.summary.generate import summarize
from workbench.summary.history import StoredHistory, open_history
from workbench.summary.review import open_review, open_review_store

CASE_001 = Path(__file__).resolve().parents[2] / "eval" / "cases" / "case-001"


def test_reviews_in_a_shared_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "team"
    monkeypatch.setenv("WORKBENCH_STORAGE_URI", shared.as_uri())
    history = open_history()
    assert isinstance(history, StoredHistory)
    generation = summarize(load_case(CASE_001), "v5", "baseline:extractive", "both", history=history)
    assert history.get(generation.id).sentences == generation.sentences
    store = open_review_store(history)
    for reviewer in ("dr-a", "dr-b"):
        review = open_review(history, generation.id, reviewer=reviewer)
        review.accepted["併存症"] = f"edited by {reviewer}"
        store.record(review.accept())
    reviews = store.reviews(generation.id)
    assert sorted(r.reviewer for r in reviews) == ["dr-a", "dr-b"]  # accepted in the same second
    assert len(list((shared / "reviews" / generation.id).glob("*.json"))) == 2
    assert history.get(generation.id).output == generation.output
    review.generation_id = "missing"
    with pytest.raises(NotFoundError):
        store.record(review)
    assert len(store.reviews()) == 2
