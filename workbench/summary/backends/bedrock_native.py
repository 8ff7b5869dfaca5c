"""Anthropic Claude's native Bedrock format: the ``InvokeModel`` body and its answer.

The Converse API (:mod:`.bedrock`) is what on-demand calls use; Bedrock batch inference instead takes, per
record, the model's native ``InvokeModel`` body (Anthropic Messages, ``anthropic_version
"bedrock-2023-05-31"``) and writes the native answer back. These two functions map a
:class:`~workbench.summary.backends.ModelRequest` to that body and the answer to a
:class:`~workbench.summary.backends.ModelResponse`, with the same fields the Converse path fills.
"""

from __future__ import annotations

from typing import Any

from workbench.errors import BackendError
from workbench.summary.backends.base import ModelRequest, ModelResponse

ANTHROPIC_VERSION = "bedrock-2023-05-31"


def anthropic_body(request: ModelRequest) -> dict[str, Any]:
    """The Anthropic Messages body of ``request`` (``temperature`` or ``top_p``, never both).

    Parameters
    ----------
    request : ModelRequest

    Returns
    -------
    dict
        ``anthropic_version``, ``max_tokens``, ``messages`` and, when set, ``system``, ``temperature`` /
        ``top_p`` and ``stop_sequences``.
    """
    body: dict[str, Any] = {
        "anthropic_version": ANTHROPIC_VERSION,
        "max_tokens": request.max_tokens,
        "messages": [{"role": "user", "content": [{"type": "text", "text": request.prompt}]}],
    }
    if request.system:
        body["system"] = request.system
    if request.temperature is not None:
        body["temperature"] = request.temperature
    elif request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop_sequences:
        body["stop_sequences"] = list(request.stop_sequences)
    return body


def anthropic_response(output: dict[str, Any], *, latency_ms: int | None = None) -> ModelResponse:
    """The :class:`ModelResponse` of a native Claude answer.

    Parameters
    ----------
    output : dict
        ``{"content": [{"type": "text", "text": ...}], "stop_reason": ..., "usage": {"input_tokens",
        "output_tokens"}}``.
    latency_ms : int, optional
        Unknown for batch answers (the service reports none): ``None``.

    Returns
    -------
    ModelResponse

    Raises
    ------
    BackendError
        If ``output`` has no ``content`` list or no ``usage``.
    """
    content = output.get("content")
    usage = output.get("usage")
    if not isinstance(content, list) or not isinstance(usage, dict):
        raise BackendError(f"not an Anthropic Claude answer (no content list or usage): {str(output)[:200]}")
    text = "".join(block.get("text", "") for block in content if block.get("type", "text") == "text")
    stop_reason = str(output.get("stop_reason") or "")
    return ModelResponse(
        text=text,
        input_tokens=int(usage.get("input_tokens", 0)),
        output_tokens=int(usage.get("output_tokens", 0)),
        latency_ms=latency_ms,  # type: ignore[arg-type]  # batch: the service reports no latency
        stop_reason=stop_reason,
        truncated=stop_reason == "max_tokens",
    )
