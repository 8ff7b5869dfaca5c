"""Text-overlap metrics against the physician's summary: ROUGE-1/2/L on MeCab tokens or characters, chrF.

ROUGE-1 and ROUGE-2 come from the ``rouge-score`` package's scorer, given our tokenizer object. ROUGE-L is
computed here with the same formula (``rouge_score.scoring.fmeasure`` of LCS/len precision and recall) but a
bit-parallel LCS length (Hyyrö 2004) instead of the package's pure-Python O(n·m) table: on character tokens
of a 500-character summary the package needs ~60 ms per pair, so a corpus of a few hundred outputs with
per-section scores would take minutes; the bit-parallel version takes well under a millisecond and gives the
same length (asserted against the package in the tests).
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from workbench.evaluation.tokenize import TokenizerKind, get_tokenizer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rouge_score.rouge_scorer import RougeScorer
    from sacrebleu.metrics import CHRF

logger = logging.getLogger(__name__)

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL")


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences (bit-parallel, Hyyrö 2004).

    Parameters
    ----------
    a, b
        Token sequences.

    Returns
    -------
    int
    """
    if not a or not b:
        return 0
    if len(b) > len(a):  # fewer iterations over the shorter sequence
        a, b = b, a
    match: dict[str, int] = {}
    for i, token in enumerate(a):
        match[token] = match.get(token, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for token in b:
        u = v & match.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


@functools.cache
def _ngram_scorer(kind: str) -> RougeScorer:
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(["rouge1", "rouge2"], tokenizer=get_tokenizer(kind))


def rouge(candidate: str, reference: str, tokenizer: str | TokenizerKind = "mecab") -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L F-measures of ``candidate`` against ``reference``.

    Parameters
    ----------
    candidate
        The generated text.
    reference
        The physician-written text.
    tokenizer
        ``"mecab"`` (morphemes; the default) or ``"char"`` (characters).

    Returns
    -------
    dict
        ``{"rouge1": f, "rouge2": f, "rougeL": f}``, each in [0, 1]; 0 when either text has no tokens.

    Raises
    ------
    ValueError
        For an unknown tokenizer.
    """
    from rouge_score import scoring

    tok = get_tokenizer(tokenizer)
    scores = _ngram_scorer(tok.name).score(reference, candidate)
    result = {key: float(scores[key].fmeasure) for key in ("rouge1", "rouge2")}
    cand_tokens = tok.tokenize(candidate)
    ref_tokens = tok.tokenize(reference)
    lcs = lcs_length(cand_tokens, ref_tokens)
    if lcs == 0:
        result["rougeL"] = 0.0
    else:
        result["rougeL"] = float(scoring.fmeasure(lcs / len(cand_tokens), lcs / len(ref_tokens)))
    return result


@functools.cache
def _chrf_metric() -> CHRF:
    from sacrebleu.metrics import CHRF

    return CHRF()


def chrf(candidate: str, reference: str) -> float:
    """chrF (character n-gram F-score, sacrebleu's defaults: n=6, beta=2) on a 0-1 scale.

    Characters need no tokenizer, which makes chrF a useful check on the MeCab-based ROUGE. sacrebleu drops
    whitespace itself; we give it NFKC lower-cased text like the tokenizers.

    Parameters
    ----------
    candidate, reference
        The generated and the physician-written text.

    Returns
    -------
    float
    """
    from workbench.evaluation.tokenize import canonical

    return float(_chrf_metric().sentence_score(canonical(candidate), [canonical(reference)]).score) / 100.0
