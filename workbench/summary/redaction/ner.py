"""Names from the tokens GiNZA made: dictionary tags and the words around a name.

Sudachi (GiNZA's tokenizer) tags known family and given names ``名詞-固有名詞-人名``; a run of such
tokens is a name. Words around a name find the ones the dictionary does not know: the token before an
honorific or a staff title (``山田さん``, ``鈴木医師``, ``田中院長``) and the tokens after a family
relation or a role (``長男 山田一郎``, ``娘の佐藤美咲``, ``主治医 鈴木``). Working on tokens, a name never
takes part of a neighbouring word: in ``1月12日 山田さん`` only ``山田`` is a name.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from presidio_analyzer import LocalRecognizer, RecognizerResult

from workbench.summary.redaction.kinds import IdentifierKind
from workbench.summary.redaction.words import HONORIFICS, NOT_NAMES, RELATIONS

logger = logging.getLogger(__name__)

_JOINERS = frozenset(["の", ":", "："]) | {" ", "　"}
_EPONYM_AFTER = (
    *("病", "症", "型", "法", "試験", "反射", "徴候", "分類", "スコア"),
    *("線", "細胞", "菌", "管", "腺"),
)


def _is_katakana(token: Any) -> bool:
    return all("ァ" <= c <= "ヶ" or c in "ー・" for c in token.text)


def _is_hiragana(token: Any) -> bool:
    return all("ぁ" <= c <= "ゖ" for c in token.text)


def _after_number(tokens: list[Any], first: int) -> bool:
    """Whether token ``first`` follows a number or a unit (``50mg/日継続`` holds no name)."""
    previous = tokens[first - 1] if first > 0 else None
    return previous is not None and ("数詞" in previous.tag_ or previous.text in ("/", "／"))


def _eponym(tokens: list[Any], last: int) -> bool:
    """Whether the name ending at token ``last`` names a disease, sign or method (橋本病, 川崎病)."""
    following = "".join(t.text for t in tokens[last + 1 : last + 3])
    return not tokens[last].whitespace_ and following.startswith(_EPONYM_AFTER)


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

    name: str  # set by Presidio's constructor

    def __init__(self) -> None:
        super().__init__(
            supported_entities=[IdentifierKind.NAME.entity],
            supported_language="ja",
            name="JapaneseNameRecognizer",
        )

    def load(self) -> None:
        """Nothing to load: the tokens come with the NLP artifacts."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        """Name spans in ``text``, snapped to token boundaries."""
        if nlp_artifacts is None or IdentifierKind.NAME.entity not in entities:
            return []
        tokens = list(nlp_artifacts.tokens)
        spans: set[tuple[int, int, float]] = set()
        # 1. a family name followed by a given name, both in the dictionary (one alone is too often a word:
        #    独歩, 満月, 光顕 are names too)
        i = 0
        while i < len(tokens):
            if _is_name_tag(tokens[i]) and _is_nameish(tokens[i]) and not _is_katakana(tokens[i]):
                j = i
                while (
                    j + 1 < len(tokens)
                    and _is_name_tag(tokens[j + 1])
                    and _is_nameish(tokens[j + 1])
                    and not _is_katakana(tokens[j + 1])
                ):
                    j += 1
                surname = any("姓" in t.tag_ for t in tokens[i : j + 1])
                length = tokens[j].idx + len(tokens[j].text) - tokens[i].idx
                plain = not _after_number(tokens, i) and not _eponym(tokens, j)
                if j > i and surname and length >= 3 and plain:
                    spans.add((tokens[i].idx, tokens[j].idx + len(tokens[j].text), 0.9))
                i = j + 1
            else:
                i += 1
        for index, token in enumerate(tokens):
            if token.text in HONORIFICS and index > 0:
                spans |= _before_title(tokens, index)
            if token.text in RELATIONS:
                spans |= _after_relation(tokens, index)
        return [
            RecognizerResult(
                IdentifierKind.NAME.entity,
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


def _before_title(tokens: list[Any], index: int) -> set[tuple[int, int, float]]:
    """2. The name before an honorific or title: 山田さん, 鈴木医師 (up to two name tokens back)."""
    token, j = tokens[index], index - 1
    if not _is_nameish(tokens[j]) or (_is_hiragana(tokens[j]) and not _is_name_tag(tokens[j])):
        return set()
    if token.text == "様" and not _is_name_tag(tokens[j]):
        return set()  # 様 after a common word means "-like": 満月様顔貌, 感冒様症状
    start = j
    while (
        start - 1 >= 0
        and index - (start - 1) <= 3
        and _is_name_tag(tokens[start - 1])
        and _is_nameish(tokens[start - 1])
        and not tokens[start - 1].whitespace_
    ):
        start -= 1
    return {(tokens[start].idx, tokens[j].idx + len(tokens[j].text), 0.92)}


def _after_relation(tokens: list[Any], index: int) -> set[tuple[int, int, float]]:
    """3. The name after a relation or role: 長男 山田一郎, 娘の佐藤美咲, 主治医 鈴木, 看護師 森田."""
    j = index + 1
    while j < len(tokens) and tokens[j].text in _JOINERS and j - index <= 2:
        j += 1
    start = j
    while j < len(tokens) and j - start < 3 and _is_nameish(tokens[j]):
        if not (_is_name_tag(tokens[j]) or j == start):
            break
        j += 1
    if j > start and not _eponym(tokens, j - 1) and (
        (j - start >= 2 and _is_name_tag(tokens[start + 1]))
        or "姓" in tokens[start].tag_
        or ("固有名詞" in tokens[start].tag_ and len(tokens[start].text) >= 2)
    ):
        return {(tokens[start].idx, tokens[j - 1].idx + len(tokens[j - 1].text), 0.91)}
    return set()


class GinzaRecognizer(LocalRecognizer):
    """GiNZA's named-entity model (people, places) as Presidio sees it.

    A person is kept only when the dictionary agrees that one of its tokens is a name and it names no
    disease (``原発巣`` is not a person, ``橋本病`` not a patient).
    """

    name: str  # set by Presidio's constructor

    ENTITIES: ClassVar[dict[str, str]] = {
        "Person": IdentifierKind.NAME.entity,
        "City": IdentifierKind.ADDRESS.entity,
        "Postal_Address": IdentifierKind.ADDRESS.entity,
    }

    def __init__(self) -> None:
        super().__init__(
            supported_entities=sorted(set(self.ENTITIES.values())),
            supported_language="ja",
            name="GinzaRecognizer",
        )

    def load(self) -> None:
        """Nothing to load: the entities come with the NLP artifacts."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        """The model's entities of the wanted types."""
        if nlp_artifacts is None:
            return []
        doc = nlp_artifacts.tokens
        tokens = list(doc)
        results = []
        for entity in doc.ents:
            kind = self.ENTITIES.get(entity.label_)
            if kind is None or kind not in entities:
                continue
            if kind == IdentifierKind.NAME.entity and (
                # two signs alone are too often a word (光顕); the context rules find 鈴木医師
                len(entity.text) < 3
                or not any(_is_name_tag(t) for t in entity)
                or _eponym(tokens, entity.end - 1)
                or _after_number(tokens, entity.start)
            ):
                continue
            metadata = {
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            }
            start, end = entity.start_char, entity.end_char
            results.append(RecognizerResult(kind, start, end, 0.85, recognition_metadata=metadata))
        return results
