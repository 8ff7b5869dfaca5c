"""The one interface every model backend implements, and the registry of backends by name prefix."""

from __future__ import annotations

import importlib
import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from workbench.errors import BackendError

if TYPE_CHECKING:
    from workbench.summary.cases import Case, Source

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRequest:
    """What is sent to a model.

    Attributes
    ----------
    system : str or None
        System prompt.
    prompt : str
        The user message (the rendered prompt).
    max_tokens : int
        Upper bound on generated tokens.
    temperature, top_p : float or None
        Sampling; at most one of them (Claude 4.5 models reject both).
    stop_sequences : tuple of str
    """

    system: str | None
    prompt: str
    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    stop_sequences: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problem = param_problem(self.params())
        if problem:
            raise BackendError(problem)
        if self.temperature is not None and self.top_p is not None:
            raise BackendError(
                "give temperature or top_p, not both (Claude 4.5 models reject a request with both)"
            )
        if not self.prompt.strip():
            raise BackendError("the prompt is empty")

    def params(self) -> dict[str, object]:
        """The inference parameters as recorded in history and in the cache key."""
        params: dict[str, object] = {"max_tokens": self.max_tokens}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.top_p is not None:
            params["top_p"] = self.top_p
        if self.stop_sequences:
            params["stop_sequences"] = list(self.stop_sequences)
        return params


@dataclass(frozen=True)
class ModelResponse:
    """What came back.

    Attributes
    ----------
    text : str
    input_tokens, output_tokens : int
        As reported by the service (estimated by :func:`~workbench.summary.backends.estimate_tokens` for
        backends that report none).
    latency_ms : int
        Service-side latency when reported (Bedrock ``metrics.latencyMs``), else wall-clock.
    stop_reason : str
        E.g. ``end_turn``, ``max_tokens``, ``stop_sequence``.
    truncated : bool
        The output hit ``max_tokens``.
    """

    text: str
    input_tokens: int
    output_tokens: int
    latency_ms: int
    stop_reason: str
    truncated: bool


@dataclass(frozen=True)
class CaseInput:
    """The case and source a request was rendered from, for a backend that summarises the case itself.

    Only a backend whose :attr:`Backend.reads_case` is true is given one (``baseline:extractive``, which does
    not read prompts).

    Attributes
    ----------
    case : Case
    source : Source
    cite : bool
        The prompt asks every sentence to cite the case's entry IDs (front matter ``citations: true``,
        :mod:`workbench.summary.citations`); a backend that writes the summary itself cites what it copies.
    """

    case: Case
    source: Source
    cite: bool = False

    def cache_context(self) -> str:
        """What the answer depends on besides the prompt, for the response-cache key."""
        context = f"{self.case.case_id}/{self.case.patient_id}/{self.source.value}"
        return f"{context}/cite" if self.cite else context


MAX_TOKENS_LIMIT = 1_000_000
"""The most output tokens a request may ask for (no model offers more; a larger value is a typo)."""


def param_problem(params: Mapping[str, Any]) -> str | None:
    """Say what is wrong with inference parameters, or ``None`` when they are valid.

    Checked: ``max_tokens`` an integer from 1 to :data:`MAX_TOKENS_LIMIT`, ``temperature`` a number from 0 to
    2, ``top_p`` a number in (0, 1], ``stop_sequences`` a list of strings. Spec files, prompt front matter,
    command options and requests share this check, so a bad value is refused where it is written, not on
    every call.
    """

    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

    max_tokens = params.get("max_tokens")
    whole = isinstance(max_tokens, int) and not isinstance(max_tokens, bool)
    if max_tokens is not None and not (whole and 0 < max_tokens <= MAX_TOKENS_LIMIT):
        return f"max_tokens must be a positive integer (at most {MAX_TOKENS_LIMIT}), got {max_tokens!r}"
    temperature = params.get("temperature")
    if temperature is not None and not (number(temperature) and 0 <= temperature <= 2):
        return f"temperature must be between 0 and 2, got {temperature!r}"
    top_p = params.get("top_p")
    if top_p is not None and not (number(top_p) and 0 < top_p <= 1):
        return f"top_p must be in (0, 1], got {top_p!r}"
    stops = params.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list | tuple) or not all(isinstance(x, str) and x for x in stops)
    ):
        return f"stop_sequences must be a list of non-empty strings, got {stops!r}"
    return None


@runtime_checkable
class Backend(Protocol):
    """A model: ``name`` is ``"<prefix>:<model id>"``; ``generate`` makes one call.

    Attributes
    ----------
    name : str
    reads_case : bool
        The backend summarises the case itself, on this machine (it is given a :class:`CaseInput`; nothing
        leaves the machine, so redaction does not apply, and the cache key includes the case).
    """

    name: str
    reads_case: bool

    def generate(self, request: ModelRequest, case: CaseInput | None = None) -> ModelResponse:
        """Run one request (``case``: given to backends that read the case, else ``None``).

        Raises
        ------
        BackendError
            The service refused or could not be reached.
        ThrottledError
            Throttling outlasted the backend's retries.
        """
        ...

    def caller_identity(self) -> str | None:
        """Who the service sees as calling (e.g. an AWS ARN), when the backend knows it; else ``None``."""
        ...


class BaseBackend:
    """Defaults of the :class:`Backend` members most backends do not need: a model that reads only the
    request and knows no caller identity."""

    reads_case: bool = False

    def caller_identity(self) -> str | None:
        """No caller identity known."""
        return None


BackendFactory = Callable[[str], Backend]

_BUILTIN: dict[str, str] = {
    "bedrock": "workbench.summary.backends.bedrock:BedrockBackend",
    "openai": "workbench.summary.backends.openai:OpenAIBackend",
    "baseline": "workbench.summary.backends.baseline:BaselineBackend",
}
_FACTORIES: dict[str, BackendFactory] = {}
_INSTANCES: dict[str, Backend] = {}
_LOCK = threading.Lock()


def split_model_name(name: str) -> tuple[str, str]:
    """Split ``"bedrock:jp.anthropic...:0"`` into ``("bedrock", "jp.anthropic...:0")`` (at the first colon).

    Raises
    ------
    BackendError
        If the name has no ``prefix:`` or the prefix is unknown.
    """
    prefix, sep, model_id = str(name).partition(":")
    known = sorted(set(_BUILTIN) | set(_FACTORIES))
    if not sep or not model_id:
        raise BackendError(
            f"model {name!r} must be named backend:model-id (backends: {', '.join(known)}), "
            "e.g. bedrock:jp.anthropic.claude-sonnet-4-5-20250929-v1:0 or baseline:extractive"
        )
    if prefix not in known:
        raise BackendError(
            f"unknown model backend {prefix!r} in {name!r}; known backends: {', '.join(known)}"
        )
    return prefix, model_id


def register_backend(prefix: str, factory: BackendFactory) -> None:
    """Make ``<prefix>:<model id>`` names resolve to ``factory(model_id)`` (tests, simulators, new services).

    Registering a prefix again replaces it (and forgets the instances it made).
    """
    with _LOCK:
        _FACTORIES[prefix] = factory
        for name in [n for n in _INSTANCES if n.startswith(f"{prefix}:")]:
            del _INSTANCES[name]


def reset_backends() -> None:
    """Forget the backend instances made so far (after changing settings or credentials in a session)."""
    with _LOCK:
        _INSTANCES.clear()


def get_backend(name: str) -> Backend:
    """The backend for a model name, created once per name and reused (clients are thread-safe).

    Raises
    ------
    BackendError
        For an unknown prefix or a model the backend does not offer.
    """
    prefix, model_id = split_model_name(name)
    with _LOCK:
        if name in _INSTANCES:
            return _INSTANCES[name]
        factory = _FACTORIES.get(prefix)
        if factory is None:
            module_name, _, attribute = _BUILTIN[prefix].partition(":")
            factory = getattr(importlib.import_module(module_name), attribute)
        backend = factory(model_id)
        _INSTANCES[name] = backend
        return backend
