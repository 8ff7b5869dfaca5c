"""Japanese tokenization for text-overlap metrics: MeCab morphemes and characters.

ROUGE on Japanese needs a tokenizer: the ``rouge-score`` package's default one keeps only ASCII letters and
digits, so any Japanese text scores 0. We tokenize with MeCab (the ``fugashi`` binding) and the UniDic
dictionary shipped as ``unidic-lite``, the pairing the Japanese NLP community uses (``transformers`` uses
it for Japanese BERT). The tokenizers have the ``tokenize(text)`` method of
``rouge_score.tokenizers.Tokenizer``, so the very objects we score with can be handed to the ``rouge-score``
package. They do not subclass it: importing ``rouge_score.tokenizers`` loads NLTK (seconds), which
:func:`tokenizer_info` would otherwise pay for.

Both tokenizers apply the same canonical form first: Unicode NFKC (full-width letters and digits become
half-width, half-width katakana become full-width), lower case, and they drop whitespace and punctuation
(MeCab's 補助記号 part of speech; for characters the Unicode punctuation, separator and control categories),
which would otherwise inflate the overlap of any two Japanese texts.
"""

from __future__ import annotations

import enum
import functools
import importlib.metadata
import logging
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import fugashi

logger = logging.getLogger(__name__)

PUNCTUATION_POS = "補助記号"
"""UniDic's first-level part of speech of punctuation and brackets."""
TOKEN_CACHE_SIZE = 4096
"""Texts whose tokens are remembered (a reference is scored against every candidate of its case)."""


class TokenizerKind(enum.StrEnum):
    """The tokenizers text-overlap metrics can use."""

    MECAB = "mecab"
    CHAR = "char"


def canonical(text: str) -> str:
    """Return ``text`` in the form tokens are taken from: NFKC, lower case."""
    return unicodedata.normalize("NFKC", text).lower()


@functools.cache
def tagger() -> fugashi.Tagger:
    """Return the process-wide MeCab tagger (UniDic from ``unidic-lite``), created on first use."""
    import fugashi
    import unidic_lite

    logger.debug("creating MeCab tagger with %s", unidic_lite.DICDIR)
    return fugashi.Tagger(f'-d "{unidic_lite.DICDIR}" -r "{Path(unidic_lite.DICDIR) / "mecabrc"}"')


class MecabTokenizer:
    """MeCab morphemes (surface forms) of the canonical text, punctuation and whitespace dropped."""

    name = TokenizerKind.MECAB.value

    def tokenize(self, text: str) -> list[str]:
        """Split ``text`` into morphemes.

        Parameters
        ----------
        text
            Any text; ``None`` is not accepted.

        Returns
        -------
        list of str
        """
        return list(_mecab_tokens(text))

    def segments(self, text: str) -> list[str]:
        """Split ``text`` losslessly (joined they give ``text`` back), for showing differences."""
        return [word.white_space + word.surface for word in tagger()(text)] if text else []


class CharTokenizer:
    """Characters of the canonical text, punctuation and whitespace dropped."""

    name = TokenizerKind.CHAR.value

    def tokenize(self, text: str) -> list[str]:
        """Split ``text`` into characters.

        Parameters
        ----------
        text
            Any text.

        Returns
        -------
        list of str
        """
        return list(_char_tokens(text))


@functools.lru_cache(maxsize=TOKEN_CACHE_SIZE)
def _mecab_tokens(text: str) -> tuple[str, ...]:
    return tuple(
        word.surface
        for word in tagger()(canonical(text))
        if word.surface.strip() and word.feature.pos1 != PUNCTUATION_POS
    )


@functools.lru_cache(maxsize=TOKEN_CACHE_SIZE)
def _char_tokens(text: str) -> tuple[str, ...]:
    return tuple(ch for ch in canonical(text) if unicodedata.category(ch)[0] not in "PZC")


def get_tokenizer(kind: str | TokenizerKind) -> MecabTokenizer | CharTokenizer:
    """Return the tokenizer named ``kind``.

    Parameters
    ----------
    kind
        ``"mecab"`` or ``"char"``.

    Raises
    ------
    ValueError
        For any other name.
    """
    try:
        kind = TokenizerKind(kind)
    except ValueError:
        known = ", ".join(repr(k.value) for k in TokenizerKind)
        raise ValueError(f"unknown tokenizer {kind!r}; use one of {known}") from None
    return _TOKENIZERS[kind]


_TOKENIZERS: dict[TokenizerKind, MecabTokenizer | CharTokenizer] = {
    TokenizerKind.MECAB: MecabTokenizer(),
    TokenizerKind.CHAR: CharTokenizer(),
}


def tokenizer_info() -> dict[str, Any]:
    """Describe the tokenizer for evaluation reports: package and dictionary versions.

    Returns
    -------
    dict
        ``tokenizer`` ("mecab"), ``fugashi`` and ``unidic_lite`` (package versions), ``dictionary``
        ("unidic-lite"), ``dictionary_version`` (the UniDic release inside the package), ``dictionary_path``
        and ``normalization`` (what is done to text before tokenizing).
    """
    import unidic_lite

    version_file = Path(unidic_lite.DICDIR) / "version"
    info = tagger().dictionary_info[0]
    return {
        "tokenizer": TokenizerKind.MECAB.value,
        "fugashi": importlib.metadata.version("fugashi"),
        "unidic_lite": importlib.metadata.version("unidic-lite"),
        "dictionary": "unidic-lite",
        "dictionary_version": version_file.read_text(encoding="utf-8").strip()
        if version_file.exists()
        else None,
        "dictionary_path": info["filename"],
        "normalization": "NFKC, lower case, punctuation and whitespace dropped",
    }
