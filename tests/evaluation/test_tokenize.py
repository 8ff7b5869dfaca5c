"""The Japanese tokenizer really is MeCab with the unidic-lite dictionary."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import fugashi
import pytest
import unidic_lite

from workbench.evaluation.tokenize import (
    MecabTokenizer,
    TokenizerKind,
    canonical,
    get_tokenizer,
    tagger,
    tokenizer_info,
)


def test_mecab_splits_into_unidic_morphemes() -> None:
    assert get_tokenizer("mecab").tokenize("退院サマリーを作成した") == [
        "退院",
        "サマリー",
        "を",
        "作成",
        "し",
        "た",
    ]
    words = tagger()("退院サマリーを作成した")
    assert [w.feature.pos1 for w in words][:2] == ["名詞", "名詞"]
    assert words[4].feature.lemma == "為る"  # UniDic lemma of し: only a real UniDic lookup knows it


def test_tagger_is_mecab_with_unidic_lite() -> None:
    assert isinstance(tagger(), fugashi.Tagger)
    assert Path(tagger().dictionary_info[0]["filename"]).parent == Path(unidic_lite.DICDIR)


def test_tokenizer_info_records_versions() -> None:
    info = tokenizer_info()
    assert info["tokenizer"] == "mecab"
    assert info["fugashi"] == importlib.metadata.version("fugashi")
    assert info["unidic_lite"] == importlib.metadata.version("unidic-lite")
    assert info["dictionary_version"] == (Path(unidic_lite.DICDIR) / "version").read_text().strip()


def test_canonical_form_widths_and_punctuation() -> None:
    mecab = get_tokenizer("mecab")
    assert mecab.tokenize("１０ｍｇ、ﾌﾛｾﾐﾄﾞ。") == mecab.tokenize("10mg フロセミド")
    assert "、" not in mecab.tokenize("発熱、咳嗽。")
    assert get_tokenizer("char").tokenize("Ｃｒ 5.6、") == ["c", "r", "5", "6"]


def test_segments_are_lossless() -> None:
    text = "入院後、TAZ/PIPC 4.5g を開始した。\n改善した。"
    assert "".join(MecabTokenizer().segments(text)) == text


def test_unknown_tokenizer() -> None:
    with pytest.raises(ValueError, match="unknown tokenizer 'spacy'"):
        get_tokenizer("spacy")


def test_tokenizer_info_is_complete(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    info = tokenizer_info()
    assert info == {
        "tokenizer": "mecab",
        "fugashi": importlib.metadata.version("fugashi"),
        "unidic_lite": importlib.metadata.version("unidic-lite"),
        "dictionary": "unidic-lite",
        "dictionary_version": (Path(unidic_lite.DICDIR) / "version").read_text().strip(),
        "dictionary_path": tagger().dictionary_info[0]["filename"],
        "normalization": "NFKC, lower case, punctuation and whitespace dropped",
    }
    monkeypatch.setattr(unidic_lite, "DICDIR", str(tmp_path))  # a dictionary folder without a version file
    assert tokenizer_info()["dictionary_version"] is None


def test_canonical_is_nfkc_lower_case() -> None:
    assert canonical("ＡＢＣ ｶﾞ") == "abc ガ"


def test_unknown_tokenizer_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown tokenizer 'spacy'; use one of 'mecab', 'char'$"):
        get_tokenizer("spacy")
    assert get_tokenizer("char") is get_tokenizer(TokenizerKind.CHAR)
