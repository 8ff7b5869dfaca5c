"""Section completeness and length ratio."""

from __future__ import annotations

import math

import pytest

from workbench.evaluation.structure import length_ratio, structure

FULL = (
    "・ 現病歴\n発熱。\n・ 併存症\n糖尿病\n"
    "・ 重大な身体所見およびその他の所見\n肺炎像。\n・ 入院中の治療経過\n改善し退院。"
)


def test_complete_summary() -> None:
    result = structure(FULL)
    assert result.complete and result.completeness == 1.0 and result.missing == ()


def test_missing_and_empty_sections() -> None:
    result = structure("・ 現病歴\n発熱。\n・ 併存症\n\n【退院時処方】\nなし")
    assert result.completeness == 0.25
    assert result.missing == ("併存症", "重大な身体所見およびその他の所見", "入院中の治療経過")
    assert result.extra == ("退院時処方",)


def test_length_ratio() -> None:
    assert length_ratio("あいう、えお", "あいうえおかきくけこ") == pytest.approx(0.5)
    assert math.isnan(length_ratio("あ", "  "))
