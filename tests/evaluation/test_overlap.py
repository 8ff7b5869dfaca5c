"""ROUGE equals the rouge-score package's numbers with the same tokenizer; chrF is sacrebleu's."""

from __future__ import annotations

import random

import pytest
from rouge_score.rouge_scorer import RougeScorer
from sacrebleu.metrics import CHRF

from tests.evaluation.sample_run import corpus_cases, output_for
from workbench.evaluation.overlap import chrf, lcs_length, rouge
from workbench.evaluation.tokenize import get_tokenizer
from workbench.summary.cases import load_case


def _pairs() -> list[tuple[str, str]]:
    references = [load_case(p).reference for p in corpus_cases(3)]
    pairs = [
        (output_for(r, prompt, model), r)
        for r in references
        for prompt in ("v1", "v2")
        for model in ("bedrock:model-a", "bedrock:model-b")
    ]
    pairs.append((references[0], references[1]))  # two different cases
    return pairs


@pytest.mark.parametrize("kind", ["mecab", "char"])
def test_rouge_equals_the_rouge_score_package(kind: str) -> None:
    scorer = RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=get_tokenizer(kind))
    for candidate, reference in _pairs():
        package = scorer.score(reference, candidate)
        ours = rouge(candidate, reference, kind)
        assert ours == pytest.approx({k: package[k].fmeasure for k in ours}, abs=1e-12)


def test_lcs_equals_the_package_on_random_sequences() -> None:
    rng = random.Random(7)
    scorer = RougeScorer(["rougeL"], tokenizer=get_tokenizer("char"))
    for _ in range(200):
        a = "".join(rng.choice("あいうえおか") for _ in range(rng.randint(0, 80)))
        b = "".join(rng.choice("あいうえおか") for _ in range(rng.randint(0, 80)))
        expected = scorer.score(a, b)["rougeL"]
        assert rouge(b, a, "char")["rougeL"] == pytest.approx(expected.fmeasure, abs=1e-12)
        if a and b:
            assert lcs_length(list(a), list(b)) == round(expected.recall * len(a))


@pytest.mark.parametrize("kind", ["mecab", "char"])
def test_identical_is_one_disjoint_is_zero(kind: str) -> None:
    text = "右下葉肺炎に対しセフトリアキソンを開始し、解熱した。"
    assert rouge(text, text, kind) == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    assert rouge("右下葉肺炎", "骨折術後", kind) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    assert rouge("", text, kind) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_default_rouge_score_tokenizer_scores_japanese_zero() -> None:
    """Why the tokenizer matters: the package alone sees no tokens in Japanese text."""
    text = "右下葉肺炎に対しセフトリアキソンを開始した。"
    assert RougeScorer(["rouge1"]).score(text, text)["rouge1"].fmeasure == 0.0
    assert rouge(text, text)["rouge1"] == 1.0


def test_mecab_and_char_differ_on_partial_overlap() -> None:
    mecab = rouge("抗菌薬を変更した", "抗菌薬を継続した", "mecab")
    char = rouge("抗菌薬を変更した", "抗菌薬を継続した", "char")
    assert 0 < mecab["rouge1"] < 1 and 0 < char["rouge1"] < 1
    assert mecab["rouge1"] != char["rouge1"]


def test_chrf_is_sacrebleu() -> None:
    candidate, reference = _pairs()[0]
    assert chrf(candidate, reference) == pytest.approx(
        CHRF().sentence_score(candidate, [reference]).score / 100
    )
    assert chrf(reference, reference) == pytest.approx(1.0)
    assert chrf("あいう", "かきく") == 0.0


def test_package_level_names() -> None:
    import workbench.evaluation as evaluation

    assert evaluation.rouge is rouge and evaluation.chrf is chrf
    with pytest.raises(AttributeError):
        _ = evaluation.no_such_name
