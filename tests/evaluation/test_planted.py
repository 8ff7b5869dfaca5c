"""The grounding check on the planted-error set: recall on errors, false flags on legitimate variants."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from workbench.evaluation.planted import ERROR_KINDS, VARIANT_KINDS, generate, measure, read
from workbench.summary.cases import load_case

ROOT = Path(__file__).resolve().parents[2]
PLANTED = ROOT / "eval" / "planted" / "planted.jsonl"
CASES = sorted(p for p in (ROOT / "eval" / "cases").iterdir() if (p / "summary.txt").is_file())


@pytest.fixture(scope="module")
def items():
    return read(PLANTED)


def test_the_set_is_broad(items) -> None:
    kinds = Counter(item.kind for item in items)
    assert set(kinds) == {*ERROR_KINDS, *VARIANT_KINDS}
    assert all(kinds[kind] >= 25 for kind in kinds), kinds
    assert len({item.case for item in items}) >= 25  # many cases, many sentences
    assert len({item.base for item in items}) >= 500


def test_recall_at_least_90_percent_and_false_flags_at_most_5_percent(items) -> None:
    cases = {c.case_id: c for c in (load_case(p) for p in CASES)}
    result = measure(items, cases)
    assert result.recall >= 0.9, (result.recall, result.by_kind)
    assert result.false_flag_rate <= 0.05, (result.false_flag_rate, result.by_kind)
    for kind in ERROR_KINDS:  # no kind of error hides behind the others
        total, flagged = result.by_kind[kind]
        assert flagged / total >= 0.8, (kind, flagged, total)


def test_the_committed_set_is_what_the_generator_makes(items) -> None:
    subset = CASES[:3]
    names = {p.name for p in subset}
    assert generate(subset) == [item for item in items if item.case in names]
