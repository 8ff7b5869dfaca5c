from __future__ import annotations

from workbench.summary.sections import SECTIONS, format_sections, parse_sections

SEED_OUTPUT = """<template>

- ・ 現病歴
7月22日に発熱が出現し、7月25日に近医クリニックを受診した。
- ・ 併存症
肺がん、小脳変性症、糖尿病
- ・ 重大な身体所見およびその他の所見
右広汎にすりガラス影を認めた。
- ・ 入院中の治療経過
入院後、スルバシリンの投与を開始した。
最終的に、8月18日に退院となった。
"""


def test_the_seed_output_parses_into_the_four_sections() -> None:
    parsed = parse_sections(SEED_OUTPUT)
    assert list(parsed.sections) == list(SECTIONS)
    assert (
        parsed.sections["入院中の治療経過"]
        == "入院後、スルバシリンの投与を開始した。\n最終的に、8月18日に退院となった。"
    )
    assert parsed.complete and parsed.missing == [] and parsed.extra == []


def test_heading_styles_models_write() -> None:
    text = (
        "はい、作成しました。\n【現病歴】\nA\n## 併存症\nB\n**重大な身体所見及びその他の所見**\nC\n"
        "入院中の治療経過：\nD\n■ 退院時処方\nE\n"
    )
    parsed = parse_sections(text)
    assert parsed.sections == {
        "現病歴": "A",
        "併存症": "B",
        "重大な身体所見およびその他の所見": "C",
        "入院中の治療経過": "D",
        "退院時処方": "E",
    }
    assert parsed.extra == ["退院時処方"] and parsed.missing == []


def test_bullets_inside_a_section_are_not_headings_and_empty_sections_are_missing() -> None:
    parsed = parse_sections(
        "・ 現病歴\n発熱\n・ 併存症\n・糖尿病\n・高血圧\n・ 重大な身体所見およびその他の所見\n\n"
    )
    assert parsed.sections["併存症"] == "・糖尿病\n・高血圧"
    assert parsed.missing == ["重大な身体所見およびその他の所見", "入院中の治療経過"] and not parsed.complete
    assert parsed.extra == []


def test_format_sections_round_trips() -> None:
    sections = {
        "入院中の治療経過": "D",
        "現病歴": "A",
        "併存症": "B",
        "重大な身体所見およびその他の所見": "C",
    }
    text = format_sections(sections)
    assert text.startswith("・ 現病歴\nA\n\n・ 併存症\nB")
    assert parse_sections(text).sections == {k: sections[k] for k in SECTIONS}


def test_headings_with_their_text_on_the_same_line() -> None:
    text = (
        "・ 現病歴：78歳女性。3日前から発熱。\n"
        "【併存症】高血圧、糖尿病\n"
        "**重大な身体所見およびその他の所見**: CRP 12.3 mg/dL\n"
        "■入院中の治療経過：TAZ/PIPCで加療。\n7日目に退院。"
    )
    parsed = parse_sections(text)
    assert parsed.missing == []
    assert parsed.sections["現病歴"] == "78歳女性。3日前から発熱。"
    assert parsed.sections["併存症"] == "高血圧、糖尿病"
    assert parsed.sections["入院中の治療経過"] == "TAZ/PIPCで加療。\n7日目に退院。"
    # A sentence that merely starts with a section's word is not a heading.
    assert parse_sections("現病歴は特になし\n・ 現病歴\n発熱").sections["現病歴"] == "発熱"
