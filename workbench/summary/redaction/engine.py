"""The recogniser: Presidio's analyzer over GiNZA (spaCy, Japanese), loaded once per process.

GiNZA's named-entity model (``ja_ginza``, installed from PyPI with its model inside; nothing is downloaded
at run time) finds people and places; :class:`JapaneseNameRecognizer` reads the Sudachi dictionary tags of
the same tokens (``名詞-固有名詞-人名``) and the words around them (``山田さん``, ``長男 山田一郎``,
``主治医 鈴木医師``); :mod:`.rules` adds the patterns. Loading takes a few seconds, so the engine is made
once per process and shared (calls are serialised: the tokenizer is not thread-safe).

When a part is missing the redaction refuses to run (:class:`RedactionUnavailableError`), so that no text
leaves the machine unredacted.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import threading
from collections import OrderedDict
from typing import Any

from workbench.errors import MissingDependencyError
from workbench.optional import DISTRIBUTIONS, EXTRAS

logger = logging.getLogger(__name__)

EXTRA = "redact"
MODEL = "ja_ginza"
RULES_VERSION = "2"
"""Bumped whenever :mod:`.rules`, :mod:`.names` or :mod:`.dates` change what they find."""
_REQUIRED = {module: DISTRIBUTIONS.get(module, module) for module, extra in EXTRAS.items() if extra == EXTRA}
"""Top-level module -> distribution of every part of the ``redact`` extra (from :mod:`workbench.optional`)."""
_GINZA_ENTITIES = {"Person": "NAME", "City": "ADDRESS", "Postal_Address": "ADDRESS"}
_LOCK = threading.RLock()


class RedactionUnavailableError(MissingDependencyError):
    """Redaction was asked for but its recogniser (Presidio, GiNZA and its model) is not installed."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module blocked or broken in sys.modules
        return False


def check_installed() -> None:
    """Raise :class:`RedactionUnavailableError` naming the extra to install if a part is missing."""
    missing = [dist for module, dist in _REQUIRED.items() if not _installed(module)]
    if missing:
        raise RedactionUnavailableError(
            f"redaction needs {', '.join(missing)}: install the '{EXTRA}' extra "
            f"(pip install 'workbench[{EXTRA}]'); nothing was sent"
        )


def recogniser_version() -> str:
    """What recognised the identifiers, with versions (recorded with every redacted generation)."""
    check_installed()
    versions = {dist: importlib.metadata.version(dist) for dist in ("presidio-analyzer", "ja-ginza", "spacy")}
    return (
        f"presidio-analyzer {versions['presidio-analyzer']} + {MODEL} {versions['ja-ginza']} "
        f"(spaCy {versions['spacy']}) + workbench rules {RULES_VERSION}"
    )


_ENGINE: list[Any] = []


def analyzer() -> Any:
    """The Presidio ``AnalyzerEngine`` for Japanese, made on first use and kept for the process.

    Raises
    ------
    RedactionUnavailableError
        If presidio-analyzer, spaCy, GiNZA or its model is not installed.
    """
    check_installed()
    with _LOCK:
        if not _ENGINE:
            _ENGINE.append(_build())
        return _ENGINE[0]


def _build() -> Any:
    """Load GiNZA and assemble the Presidio engine (called once, under the lock)."""
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    from workbench.summary.redaction.ner import GinzaRecognizer, JapaneseNameRecognizer
    from workbench.summary.redaction.rules import rule_recognizers

    try:  # the installed package (SpacyNlpEngine.load() would download a missing one)
        nlp = spacy.load(MODEL)
    except OSError as exc:
        raise RedactionUnavailableError(
            f"the GiNZA model {MODEL} cannot be loaded ({exc}): install the '{EXTRA}' extra "
            f"(pip install 'workbench[{EXTRA}]'); nothing was sent"
        ) from None
    logger.info("loaded %s for redaction", MODEL)
    ner: Any = nlp.get_pipe("ner")
    ignored = sorted(set(ner.labels) - set(_GINZA_ENTITIES))
    nlp_engine = SpacyNlpEngine(
        models=[{"lang_code": "ja", "model_name": MODEL}],
        ner_model_configuration=NerModelConfiguration(
            model_to_presidio_entity_mapping=_GINZA_ENTITIES,
            labels_to_ignore=ignored,
            low_confidence_score_multiplier=1.0,
        ),
    )
    nlp_engine.nlp = {"ja": nlp}  # type: ignore[assignment]  # declared None until load()
    registry = RecognizerRegistry(supported_languages=["ja"])
    registry.add_recognizer(GinzaRecognizer())
    registry.add_recognizer(JapaneseNameRecognizer())
    for recognizer in rule_recognizers():
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["ja"])


def analyze(text: str, ad_hoc: list[Any] | None = None) -> list[Any]:
    """Presidio results for ``text``, line by line.

    Each line's results are kept for the process (the last :data:`LINE_CACHE_SIZE` lines), so the same
    case under several prompts, models and repeats, and notes copied from day to day, are analysed once;
    new lines go through GiNZA together (``nlp.pipe``). The patient's own names and IDs (``ad_hoc``, pattern
    recognisers) are matched on the whole text.
    """
    from presidio_analyzer import BatchAnalyzerEngine, RecognizerResult

    engine = analyzer()  # fails closed before any work
    pieces = _pieces(text)
    with _LOCK:
        new = list(dict.fromkeys(p for p in pieces if p.strip() and p not in _CACHE))
        if new:
            batch = BatchAnalyzerEngine(analyzer_engine=engine)
            answers_new = batch.analyze_iterator(new, language="ja", batch_size=32)
            for piece, found in zip(new, answers_new, strict=True):
                _CACHE[piece] = tuple(found)
        answers = {p: _CACHE[p] for p in pieces if p.strip()}
        for piece in answers:
            _CACHE.move_to_end(piece)
        while len(_CACHE) > LINE_CACHE_SIZE:
            _CACHE.popitem(last=False)
    results: list[Any] = []
    offset = 0
    for piece in pieces:
        for found in answers.get(piece, ()):
            start, end, score = found.start + offset, found.end + offset, found.score
            metadata = found.recognition_metadata
            results.append(
                RecognizerResult(found.entity_type, start, end, score, recognition_metadata=metadata)
            )
        offset += len(piece)
    for recognizer in ad_hoc or []:
        results += recognizer.analyze(text, recognizer.supported_entities, None)
    return results


LINE_CACHE_SIZE = 100_000
_CACHE: OrderedDict[str, tuple[Any, ...]] = OrderedDict()


def clear_cache() -> None:
    """Forget the analysed lines (after the recognisers changed)."""
    with _LOCK:
        _CACHE.clear()


def _pieces(text: str, size: int = 4000) -> list[str]:
    """``text`` cut into lines; a line longer than ``size`` characters (Sudachi's input is limited) is cut
    after a ``。`` or, failing that, every ``size`` characters."""
    pieces = []
    for line in text.splitlines(keepends=True):
        while len(line) > size:
            cut = line.rfind("。", 0, size) + 1 or size
            pieces.append(line[:cut])
            line = line[cut:]
        pieces.append(line)
    return pieces


def reading(text: str) -> str:
    """The katakana reading Sudachi (GiNZA's tokenizer) gives ``text``."""
    nlp = analyzer().nlp_engine.nlp["ja"]
    with _LOCK:
        doc = nlp.make_doc(text)
    return "".join((token.morph.get("Reading") or [""])[0] for token in doc)
