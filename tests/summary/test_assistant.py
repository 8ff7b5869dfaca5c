from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import NotFoundError, PromptError
from workbench.summary.assistant import (
    HISTORY_COLUMNS,
    SummaryAssistant,
    create_prompt,
    history_page,
    prompt_diff,
    submit_report,
)
from workbench.summary.cache import open_cache
from workbench.summary.history import History, open_history

from .test_history import make_generation


@pytest.fixture
def history(tmp_path: Path) -> History:
    return open_history(tmp_path / "h.sqlite")


def test_submit_report_generates_and_returns_the_notes_beside_it(
    tiny_case, registry, history, tmp_path
) -> None:
    cache = open_cache(tmp_path / "c.sqlite")
    result = submit_report(
        [tiny_case],
        tiny_case.patient_id,
        "nursing",
        "v3",
        "baseline:extractive",
        history=history,
        cache=cache,
        registry=registry,
    )
    assert result.summary == result.generation.output and result.summary.startswith("（抽出型ベースライン")
    assert result.notes == tiny_case.karte("nursing") and result.flags == []
    again = submit_report(
        [tiny_case],
        "tiny",
        "nursing",
        "v3",
        "baseline:extractive",
        history=history,
        cache=cache,
        registry=registry,
    )
    assert again.flags == ["from the cache (no cost)"] and history.count() == 2
    with pytest.raises(NotFoundError, match="no case with case or patient ID 'nobody'"):
        submit_report(
            [tiny_case], "nobody", "both", "v3", "baseline:extractive", history=history, cache=cache
        )


def test_history_page_has_the_seed_columns_search_and_paging(history) -> None:
    for i in range(23):
        history.record(
            make_generation(
                patient_id="E97389" if i % 2 else "OTHER",
                timestamp=f"2024-05-17T10:{i:02d}:31+09:00",
                source="both",
            )
        )
    first = history_page(history, page=1, page_size=10)
    assert tuple(first.rows.columns) == HISTORY_COLUMNS
    assert (first.page, first.n_pages, first.total, len(first.rows)) == (1, 3, 23, 10)
    assert (
        first.rows.iloc[0].Timestamp == "2024/05/17 10:22:31"
        and first.rows.iloc[0].SrcData == "医師+看護記録"
    )
    last = history_page(history, page=9, page_size=10)
    assert (last.page, len(last.rows)) == (3, 3)
    mine = history_page(history, "e97389", page_size=10)
    assert mine.total == 11 and mine.n_pages == 2
    assert history_page(history, "E97*", page=2).rows.shape == (1, 6)
    assert first.rows.iloc[0].User == "tester"  # who generated it
    empty = history_page(open_history(history.path.with_name("empty.sqlite")))
    assert (empty.total, empty.n_pages, empty.rows.empty) == (0, 1, True)


def test_prompt_screen_functions(registry) -> None:
    assert "+version: v3" in prompt_diff(registry, "v2", "v3")
    prompt = create_prompt(
        registry,
        "$(ichigo)\n$(karte)\n短く",
        description="short",
        author="me",
        temperature=None,
        max_tokens=1000,
    )
    assert prompt.version == "v7" and prompt.parameters == {"max_tokens": 1000}
    with pytest.raises(PromptError, match="already exists"):
        create_prompt(registry, "$(karte)", version="v7")


def test_the_screens_drive_the_functions(tiny_case, registry, history, tmp_path) -> None:
    assistant = SummaryAssistant(
        [tiny_case],
        ["baseline:extractive"],
        registry=registry,
        history=history,
        cache=open_cache(tmp_path / "c.sqlite"),
    )
    tab = assistant.widget()
    assert [tab.get_title(i) for i in range(3)] == ["Report", "History", "Prompt"]
    w = assistant._widgets
    w["source"].value = "doctor"
    w["submit"].click()
    assert w["version"].value == "v5", w["status"].value  # v4 and v6 need an archive for $(imaging)
    assert assistant.last_result is not None and "・ 入院中の治療経過" in w["summary"].value
    assert "医師記録" in w["notes"].value and "PSL 30mg" in w["notes"].value
    assert (
        w["page_label"].value == "Page 1 of 1 (1 generations)"
        and assistant.last_result.generation.id in w["table"].value
        and "<th>User</th>" in w["table"].value
        and f"<td>{assistant.last_result.generation.user}</td>" in w["table"].value
    )
    assert "Physician's summary" in w["reference"].value
    w["show_source"].value = False
    assert w["notes"].layout.display == "none"
    w["patient"].value = "unknown"
    w["submit"].click()
    assert "no case with case or patient ID" in w["status"].value and history.count() == 1
    assert w["summary"].value == "" and assistant.last_result is None  # no stale summary under the error
    assert w["sentences"].options == () and w["accept"].disabled  # nor a stale draft to review
    w["open_id"].value = history.search().iloc[0]["id"][:8]
    w["show"].click()  # Open: the generation in full with its prompt
    assert "<h4>Generation" in w["detail"].value and "Prompt v5" in w["detail"].value
    w["diff_a"].value, w["diff_b"].value = "v1", "v2"
    w["diff_button"].click()
    assert "+++ v2.md" in w["diff"].value and "version: v" not in w["diff"].value  # no front-matter noise
    w["body"].value = "$(karte)\n新しい版"
    w["description"].value = "shorter"
    w["create"].click()  # no $(ichigo): asks first
    assert "no $(ichigo)" in w["prompt_status"].value and registry.versions()[-1] == "v6"
    w["max_tokens"].value, w["temperature"].value = 900, 0.3
    w["create"].click()  # the second click confirms
    assert "created v7" in w["prompt_status"].value and "v7" in w["version"].options
    assert registry.get("v7").parameters == {"max_tokens": 900, "temperature": 0.3}
    assert w["version"].value == "v5" and w["description"].value == ""  # Report keeps its choice
    assert "<td>v7</td>" in w["versions"].value and "新しい版" in w["view"].value
    w["view_version"].value = "v1"  # any version in full
    assert registry.get("v1").body.splitlines()[0] in w["view"].value
    w["create"].click()
    w["create"].click()  # the same body again makes v8, never overwriting v7
    assert registry.versions()[-1] == "v8"
    w["search"].value = "nobody"
    w["search_button"].click()
    assert w["page_label"].value == "Page 1 of 1 (0 generations)"
