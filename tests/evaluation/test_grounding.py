"""Numbers, dates and drugs in a summary that the notes do not hold."""

from __future__ import annotations

import datetime as dt
import math

from workbench.evaluation.grounding import ClaimKind, DrugLexicon, grounding

ANCHOR = dt.date(2023, 7, 25)
NOTES = """【現病歴】7月22日に発熱。
<day-2023-07-25>
<O>CRP １５．２ mg/dl、SpO2 93% 経鼻1L。ソリューゲン 500ml</O>
<P>TAZ/PIPC 4.5g q8h 開始。フロセミド 20mg。</P>
</day-2023-07-25>
<day-2023-07-28>
<A>昨日(2023-07-27)より解熱</A>
</day-2023-07-28>"""


def _unsupported(summary: str, **kwargs: object) -> set[tuple[ClaimKind, str]]:
    return {(c.kind, c.text) for c in grounding(summary, NOTES, anchor=ANCHOR, **kwargs).unsupported}


def test_supported_content_in_other_forms() -> None:
    summary = (
        "2023年7月22日発熱。7/25入院、CRP 15.2mg/dL。タゾバクタム・ピペラシリン4.5gを開始し、"
        "7月27日に解熱。ラシックス20mgを併用。"
    )
    result = grounding(summary, NOTES, anchor=ANCHOR)
    assert result.unsupported == []
    kinds = {c.kind for c in result.claims}
    assert kinds == {ClaimKind.DATE, ClaimKind.NUMBER, ClaimKind.DRUG}
    assert result.unsupported_rate == 0.0


def test_unsupported_numbers_dates_and_drugs() -> None:
    summary = "7月26日にバンコマイシンを追加。フロセミド 40mgに増量。CRP 15.2。レボフロキサシンへ変更。"
    assert _unsupported(summary) == {
        (ClaimKind.DATE, "2023-07-26"),
        (ClaimKind.DRUG, "バンコマイシン"),
        (ClaimKind.NUMBER, "40mg"),  # the notes have 20mg and 500mL, not 40mg
        (ClaimKind.DRUG, "レボフロキサシン"),
    }


def test_katakana_drug_names_outside_the_lexicon() -> None:
    assert _unsupported("ゼルボキサシンを開始。") == {(ClaimKind.DRUG, "ゼルボキサシン")}
    assert _unsupported("血糖コントロールは良好。") == set()


def test_case_drugs_extend_the_lexicon() -> None:
    lexicon = DrugLexicon([["ロケルマ", "ジルコニウムシクロケイ酸ナトリウム"]])
    notes_result = grounding("ロケルマを開始", "ジルコニウムシクロケイ酸ナトリウム 10g", lexicon=lexicon)
    assert notes_result.unsupported == [] and notes_result.n_claims == 1
    assert grounding("ロケルマを開始", "", extra_drugs=[["ロケルマ"]]).unsupported[0].text == "ロケルマ"


def test_rate_and_empty_summary() -> None:
    result = grounding("8月1日退院。", NOTES, anchor=ANCHOR)
    assert result.unsupported_rate == 1.0
    assert math.isnan(grounding("経過良好。", NOTES).unsupported_rate)


def test_ascii_abbreviations_need_word_boundaries() -> None:
    lexicon = DrugLexicon([["モルヒネ", "MS"]])
    assert grounding("MSW介入", "", lexicon=lexicon).claims == []
