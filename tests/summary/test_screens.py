"""The History and Prompt screens' functions and the Report screen's case labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import NotFoundError
from workbench.summary.history import History, open_history
from workbench.summary.history_view import generation_detail, history_table, search_history
from workbench.summary.prompt_screen import missing_placeholders, screen_diff
from workbench.summary.report_view import case_label

from .test_history import make_generation


@pytest.fixture
def history(tmp_path: Path) -> History:
    h = open_history(tmp_path / "h.sqlite")
    for i, patient in enumerate(["A660EFEB11", "A660EFEB11", "B770", "C880"]):
        h.record(
            make_generation(patient_id=patient, timestamp=f"2024-05-17T10:0{i}:00+09:00", id=f"{9 - i}abc{i}")
        )
    return h


def test_search_by_patient_or_generation_id_prefix(history) -> None:
    assert search_history(history, "a660").patient_id.tolist() == ["A660EFEB11"] * 2
    assert search_history(history, "A660*").shape[0] == 2
    assert search_history(history, "7abc").id.tolist() == ["7abc2"]
    assert search_history(history, "").shape[0] == 4


def test_history_table_sorts_pages_and_shows_the_patient_when_listing_everything(history) -> None:
    rows, page, n_pages, total = history_table(history, page_size=3)
    assert (page, n_pages, total) == (1, 2, 4) and "Patient" in rows.columns
    assert list(rows.columns[-4:]) == ["User", "Model", "PromptVersion", "SrcData"]  # who generated each
    assert rows.User.tolist() == [make_generation().user] * 3
    assert rows.Timestamp.tolist()[0] == "2024/05/17 10:03:00"  # newest first
    rows, *_ = history_table(history, sort="Id ↑", page_size=10)
    assert rows.Id.tolist() == ["6abc3", "7abc2", "8abc1", "9abc0"]
    rows, *_ = history_table(history, sort="Timestamp ↑", page_size=10)
    assert rows.Id.tolist()[0] == "9abc0"
    rows, page, _, _ = history_table(history, "A660", page=5, page_size=1)
    assert page == 2 and "Patient" not in rows.columns and len(rows) == 1
    with pytest.raises(ValueError, match="sort must be one of"):
        history_table(history, sort="name")


def test_a_past_generation_opens_with_its_text_and_prompt(history, registry) -> None:
    text = generation_detail(history, registry, "8ab")
    assert "Generation 8abc1" in text and "発熱" in text and "Prompt v2" in text
    assert registry.get("v2").body.splitlines()[0][:20] in text
    with pytest.raises(NotFoundError, match="no such ID"):
        generation_detail(history, registry, "zzz")


def test_prompt_diff_ignores_front_matter_that_always_differs(registry) -> None:
    diff = screen_diff(registry, "v2", "v3")
    assert "+version" not in diff and "+created" not in diff and "-description" not in diff
    assert "+" in diff  # the bodies or parameters do differ
    assert screen_diff(registry, "v3", "v3") == ""
    assert missing_placeholders("$(karte) だけ") == ["ichigo"]
    assert missing_placeholders("$(ichigo)\n$(karte)") == []


def test_case_label_names_the_case(tiny_case) -> None:
    label = case_label(tiny_case)
    assert label.startswith(tiny_case.case_id) and str(tiny_case.admission_date) in label
    assert tiny_case.patient_id[:8] in label
