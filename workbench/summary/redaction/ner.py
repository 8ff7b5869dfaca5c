"""Names from the tokens GiNZA made: dictionary tags and the words around a name.

Sudachi (GiNZA's tokenizer) tags known family and given names ``名詞-固有名詞-人名``; a run of such
tokens is a name. Words around a name find the ones the dictionary does not know: the token before an
honorific or a staff title (``山田さん``, ``鈴木医師``, ``田中院長``) and the tokens after a family
relation or a role (``長男 山田一郎``, ``娘の佐藤美咲``, ``主治医 鈴木``). Working on tokens, a name never
takes part of a neighbouring word: in ``1月12日 山田さん`` only ``山田`` is a name.
"""

from __future__ import annotations

import logging
from typing import Any

from presidio_analyzer import LocalRecognizer, RecognizerResult

from workbench.summary.redaction.kinds import Kind
from workbench.summary.redaction.words import HONORIFICS, NOT_NAMES, RELATIONS

logger = logging.getLogger(__name__)

_JOINERS = frozenset(["の", "は", ":", "：", "が", "と", "・", "、"]) | {" ", "　"}


def _is_name_tag(token: Any) -> bool:
    return "人名" in token.tag_


def _is_nameish(token: Any) -> bool:
    """A token that can be part of a name: a proper or unknown noun, not a known common word, no digits."""
    text = token.text
    if not text.strip() or any(c.isdigit() for c in text) or text in NOT_NAMES or text in HONORIFICS:
        return False
    if not all("一" <= c <= "龥" or c in "々ヶ" or "ぁ" <= c <= "ヶ" or c == "ー" for c in text):
        return False
    return (
        _is_name_tag(token)
        or token.tag_.startswith(("名詞-固有名詞", "名詞-普通名詞-一般"))
        or token.pos_ == "PROPN"
    )


class JapaneseNameRecognizer(LocalRecognizer):
    """People's names from GiNZA's tokens (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(
            supported_entities=[Kind.NAME.entity], supported_language="ja", name="JapaneseNameRecognizer"
        )

    def load(self) -> None:
        """Nothing to load: the tokens come with the NLP artifacts."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        """Name spans in ``text``, snapped to token boundaries."""
        if nlp_artifacts is None or Kind.NAME.entity not in entities:
            return []
        tokens = list(nlp_artifacts.tokens)
        spans: set[tuple[int, int, float]] = set()
        # 1. runs of dictionary names
        i = 0
        while i < len(tokens):
            if _is_name_tag(tokens[i]) and _is_nameish(tokens[i]):
                j = i
                while j + 1 < len(tokens) and _is_name_tag(tokens[j + 1]) and _is_nameish(tokens[j + 1]):
                    j += 1
                if tokens[j].idx + len(tokens[j].text) - tokens[i].idx >= 2:
                    spans.add((tokens[i].idx, tokens[j].idx + len(tokens[j].text), 0.9))
                i = j + 1
            else:
                i += 1
        for index, token in enumerate(tokens):
            # 2. before an honorific or title: 山田さん, 鈴木医師 (up to two name tokens back)
            if token.text in HONORIFICS and index > 0:
                j = index - 1
                if tokens[j].text in ("・",) or not _is_nameish(tokens[j]):
                    continue
                start = j
                while (
                    start - 1 >= 0
                    and index - (start - 1) <= 3
                    and _is_name_tag(tokens[start - 1])
                    and _is_nameish(tokens[start - 1])
                    and not tokens[start - 1].whitespace_
                ):
                    start -= 1
                spans.add((tokens[start].idx, tokens[j].idx + len(tokens[j].text), 0.92))
            # 3. after a relation or role: 長男 山田一郎, 娘の佐藤美咲, 主治医 鈴木
            if token.text in RELATIONS:
                j = index + 1
                while j < len(tokens) and tokens[j].text in _JOINERS and j - index <= 2:
                    j += 1
                start = j
                while (
                    j < len(tokens)
                    and j - start < 3
                    and _is_nameish(tokens[j])
                    and (_is_name_tag(tokens[j]) or j == start)
                ):
                    j += 1
                if j > start and (
                    j - start >= 2 or _is_name_tag(tokens[start]) or tokens[start].pos_ == "PROPN"
                ):
                    spans.add((tokens[start].idx, tokens[j - 1].idx + len(tokens[j - 1].text), 0.91))
        return [
            RecognizerResult(
                Kind.NAME.entity,
                start,
                end,
                score,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                },
            )
            for start, end, score in sorted(spans)
        ]
