from __future__ import annotations

from workbench.summary.citations import (
    cite_sentences,
    format_citation,
    read_citations,
    sentences_text,
    split_sentences,
    strip_citations,
)

KNOWN = {"0725-医-O1", "0725-医-O2", "0726-看-S1"}


def test_sentences_take_the_citations_after_their_full_stop() -> None:
    text = "発熱あり。[0725-医-O1]CRP高値[0725-医-O2]。\n7月26日 食欲低下[0726-看-S1]\n[0725-医-O1]"
    assert split_sentences(text) == [
        "発熱あり。[0725-医-O1]",
        "CRP高値[0725-医-O2]。",
        "7月26日 食欲低下[0726-看-S1][0725-医-O1]",
    ]


def test_valid_invalid_and_malformed() -> None:
    assert read_citations("A。[0725-医-O1, 0726-看-S1]", KNOWN) == (["0725-医-O1", "0726-看-S1"], [])
    assert read_citations("A。[0725-医-O9]", KNOWN) == ([], ["0725-医-O9"])
    for malformed in ("[0725医O1]", "［0725-医-O1］", "[1]", "[0725-医-O1; x]"):
        assert read_citations(f"A。{malformed}", KNOWN) == ([], [malformed]), malformed
    assert read_citations("A。[0725-医-O1", KNOWN) == ([], ["[0725-医-O1"])  # unclosed: kept verbatim
    assert read_citations("SpO2 95%(RA)[医師]。", KNOWN) == ([], [])  # ordinary brackets are text


def test_a_model_ignoring_the_syntax_gives_uncited_sentences() -> None:
    sentences = cite_sentences({"現病歴": "発熱で入院。肺炎と診断。"}, KNOWN)
    assert [s.uncited for s in sentences] == [True, True]
    assert all(not s.invalid_citations for s in sentences)


def test_text_with_or_without_markers() -> None:
    sentences = cite_sentences({"現病歴": "発熱あり。[0725-医-O1]", "併存症": "COPD[0725-医-X]"}, KNOWN)
    assert sentences[1].invalid_citations == ["[0725-医-X]"]
    assert sentences_text(sentences) == "・ 現病歴\n発熱あり。[0725-医-O1]\n\n・ 併存症\nCOPD[0725-医-X]"
    assert sentences_text(sentences, markers=False) == "・ 現病歴\n発熱あり。\n\n・ 併存症\nCOPD"
    assert strip_citations("A[0725-医-O1] 。") == "A。"
    assert format_citation(["a", "b", "a"]) == "[a, b]" and format_citation([]) == ""
