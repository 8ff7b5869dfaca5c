"""The redaction benchmark on the synthetic identifier corpus: the figures the README states."""

from __future__ import annotations

from typing import Any

import pytest

from workbench.summary.redaction import IdentifierKind
from workbench.summary.redaction.benchmark import load_corpus, parse, score

RECALL_OVERALL = 0.95
RECALL_NAMES_AND_IDS = 0.99


@pytest.fixture(scope="module")
def scored() -> tuple[Any, list[Any], list[Any]]:
    documents = load_corpus()
    table, details = score(documents)
    return table, details, documents


def test_the_corpus_is_large_and_varied_enough(scored) -> None:
    table, _, documents = scored
    assert table.loc["ALL", "identifiers"] >= 200
    assert {d.kind for d in documents} == {"admission", "soap"}
    assert set(table.index) - {"ALL"} == {k.name for k in IdentifierKind}  # every category is exercised


def test_recall_meets_the_figures(scored) -> None:
    table, _, _ = scored
    assert table.loc["ALL", "recall"] >= RECALL_OVERALL, table
    for category in ("NAME", "ID", "INSURANCE", "ACCOUNT", "LICENSE", "DEVICE", "VEHICLE"):
        assert table.loc[category, "recall"] >= RECALL_NAMES_AND_IDS, table
    assert table.loc["ALL", "leaked"] == 0, table


def test_no_clinical_token_is_damaged_and_every_round_trip_holds(scored) -> None:
    table, details, _ = scored
    assert table.loc["ALL", "clinical_tokens"] >= 100
    assert [(d.id, d.damaged) for d in details if d.damaged] == []
    assert [d.id for d in details if not d.round_trip] == []
    assert table.loc["ALL", "spurious"] == 0, [(d.id, d.spurious) for d in details if d.spurious]


def test_the_markup_parser() -> None:
    text, identifiers, clinical = parse("《NAME|山田》さん 〔CRP 1.2〕")
    assert text == "山田さん CRP 1.2"
    assert identifiers == [(0, 2, IdentifierKind.NAME)] and clinical == [(5, 12)]
