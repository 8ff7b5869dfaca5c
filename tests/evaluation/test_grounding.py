"""Numbers, dates and drugs in a summary that the notes do not hold."""

from __future__ import annotations

import datetime as dt
import math

from workbench.evaluation.claims import ClaimKind
from workbench.evaluation.grounding import grounding
from workbench.evaluation.lexicon import DrugLexicon

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
        (ClaimKind.DATE, "2023-07-26 バンコマイシン"),
        (ClaimKind.DRUG, "バンコマイシン"),
        (ClaimKind.NUMBER, "フロセミド 40mg"),  # the notes have 20mg and 500mL, not 40mg
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


ISSUE_NOTES = (
    "<day-2024-01-16>\n<P>ダパグリフロジン 10mg 開始</P>\n</day-2024-01-16>\n"
    "<day-2024-01-17>\n<O>HR 82</O>\n</day-2024-01-17>"
)
ISSUE_ANCHOR = dt.date(2024, 1, 9)


def _flagged(summary: str, notes: str = ISSUE_NOTES, anchor: dt.date = ISSUE_ANCHOR) -> set[str]:
    return {c.text for c in grounding(summary, notes, anchor=anchor).flagged}


def test_a_date_needs_its_event_on_that_day() -> None:
    assert _flagged("1月17日よりダパグリフロジンを開始") == {"2024-01-17 ダパグリフロジン"}
    assert _flagged("1月16日よりダパグリフロジンを開始") == set()
    assert _flagged("ダパグリフロジンを1月17日に開始した。") == {"2024-01-17 ダパグリフロジン"}
    assert _flagged("フォシーガ（ダパグリフロジン）を1月16日に開始") == set()  # brand = generic
    # a procedure or a test on the wrong day; a date without an event needs only a note of that day
    assert _flagged("1月17日に胸部CTを施行した。") == {"2024-01-17 胸部ct"}
    assert _flagged("1月17日はHR 82と安定。") == set()
    assert _flagged("1月17日に改善した。") == set() and _flagged("1月18日に改善した。") == {"2024-01-18"}


def test_pre_admission_history_is_checked_against_the_admission_record() -> None:
    notes = "【現病歴】1月5日より労作時呼吸困難。1月7日に近医で胸部X線を撮影。\n" + ISSUE_NOTES
    assert _flagged("1月7日に近医で胸部X線を撮影された。", notes) == set()
    assert _flagged("1月6日に近医で胸部X線を撮影された。", notes) == {"2024-01-06 胸部x線"}


def test_resolved_relative_days_in_the_notes_support_their_date() -> None:
    from workbench.summary.cases import resolve_relative_dates

    notes = (
        "<day-2023-10-09>\n<P>"
        + resolve_relative_dates("翌日よりフロセミド 20mg 内服開始", dt.date(2023, 10, 9))
        + "</P>\n</day-2023-10-09>\n<day-2023-10-10>\n<O>尿量 1800mL</O>\n</day-2023-10-10>"
    )
    anchor = dt.date(2023, 10, 9)
    assert _flagged("10月10日よりフロセミド20mgの内服を開始した。", notes, anchor) == set()
    wrong = _flagged("10月11日よりフロセミド20mgの内服を開始した。", notes, anchor)
    assert wrong == {"2023-10-11 フロセミド"}


def test_a_number_needs_its_analyte_and_unit() -> None:
    assert _flagged("ダパグリフロジン 82mg") == {"ダパグリフロジン 82mg"}  # HR 82 is not a dose
    assert _flagged("CRP 82") == {"crp 82"}  # nor a CRP
    assert _flagged("82mg") == {"82mg"}  # a bare 82 with a name is not 82mg
    assert _flagged("HR 82/分") == set() and _flagged("心拍数 82") == set()  # spellings of one analyte
    assert _flagged("ダパグリフロジン 10ミリグラム") == set() and _flagged("フォシーガ１０ｍｇ") == set()
    assert _flagged("ダパグリフロジン 十mg") == set()
    assert _flagged("ダパグリフロジン 五十mg") == {"ダパグリフロジン 50mg"}  # kanji numerals are read
    # a value of another analyte elsewhere in the notes does not support it
    notes = "<day-2024-01-16>\n<O>CRP 12.3 WBC 9800 K 4.1</O>\n</day-2024-01-16>"
    assert _flagged("CRP 4.1mg/dL", notes) == {"crp 4.1mg/dl"}
    assert _flagged("CRPは12.3mg/dL、Kは4.1", notes) == set()
    assert _flagged("CRP 12.3→4.1", notes) == {"crp 4.1"}  # the arrow keeps the name


def test_drug_like_words_outside_the_lists_are_unverifiable() -> None:
    summary = "エンレストを開始し、ジャヌビア50mgは継続。リハビリを開始した。"
    result = grounding(summary, ISSUE_NOTES, anchor=ISSUE_ANCHOR)
    assert [c.text for c in result.unverifiable] == ["エンレスト"]
    assert "リハビリ" not in {c.text for c in result.claims}
    assert {c.text for c in result.unsupported} >= {"ジャヌビア"}
    assert result.unverifiable_rate > 0
    known = grounding("エンレスト 100mg 継続", "<day-2024-01-16>\n<P>エンレスト 100mg</P>\n</day-2024-01-16>")
    assert known.flagged == []


def test_a_summary_without_checkable_claims_reports_zero_claims() -> None:
    result = grounding("植込み型除細動器を留置した。", ISSUE_NOTES, anchor=ISSUE_ANCHOR)
    assert result.n_claims == 0 and math.isnan(result.unsupported_rate)
    assert (result.n_sentences, result.n_uncheckable_sentences, result.uncheckable_share) == (1, 1, 1.0)
    summary = "・ 現病歴\n経過良好。1月16日よりダパグリフロジン開始。\n退院後は外来で経過観察。"
    mixed = grounding(summary, ISSUE_NOTES)
    assert (mixed.n_sentences, mixed.n_uncheckable_sentences) == (3, 2)


def test_a_start_or_stop_date_needs_the_notes_to_say_so_that_day() -> None:
    notes = (
        "<day-2023-07-27>\n<P>SBT/ABPC 3g×4/日 継続</P>\n</day-2023-07-27>\n"
        "<day-2023-07-28>\n<P>本日よりTAZ/PIPC 4.5g×3/日へ変更</P>\n</day-2023-07-28>\n"
        "<day-2023-07-29>\n<O>CRP 8.1</O>\n<P>TAZ/PIPC継続 酸素off</P>\n</day-2023-07-29>\n"
        "<day-2023-07-30>\n<O>CRP 3.2</O>\n<P>TAZ/PIPC継続</P>\n</day-2023-07-30>"
    )
    anchor = dt.date(2023, 7, 25)
    assert _flagged("7月28日にTAZ/PIPCへ変更した。", notes, anchor) == set()
    # continued on the 29th, not changed to: a start shifted by a day is caught although the drug is named
    assert _flagged("7月29日にTAZ/PIPCへ変更した。", notes, anchor) == {"2023-07-29 taz/pipc"}
    assert _flagged("7月29日に酸素投与を終了した。", notes, anchor) == set()
    assert _flagged("7月29日もTAZ/PIPCを継続した。", notes, anchor) == set()
    # a test's value belongs to its day
    assert _flagged("7月30日のCRPは3.2mg/dLであった。", notes, anchor) == set()
    assert _flagged("7月29日のCRPは3.2mg/dLであった。", notes, anchor) == {"2023-07-29 crp"}


def test_abbreviated_era_and_kanji_dates_are_read() -> None:
    for written in ("R6.1.16", "令和6年1月16日", "2024/1/16", "一月十六日", "１月１６日"):
        assert _flagged(f"{written}よりダパグリフロジンを開始") == set(), written
        claims = grounding(f"{written}よりダパグリフロジンを開始", ISSUE_NOTES, anchor=ISSUE_ANCHOR).claims
        assert claims[0].text == "2024-01-16 ダパグリフロジン", written
