"""Model backends behind one interface, named ``backend:model-id``.

``bedrock:<model id or inference profile>``
    Amazon Bedrock through the Converse API (:mod:`.bedrock`).
``openai:<model>``
    Any OpenAI-compatible chat-completions server: vLLM, Ollama, llama.cpp, on premises (:mod:`.openai`).
``baseline:extractive``
    A deterministic offline extractive baseline; not an LLM (:mod:`.baseline`).

:func:`register_backend` adds a prefix (tests, simulators). :func:`estimate_tokens` and :func:`estimate_cost`
serve dry runs and budgets.
"""

from workbench.summary.backends.base import (
    Backend,
    BaseBackend,
    CaseInput,
    ModelRequest,
    ModelResponse,
    get_backend,
    register_backend,
    reset_backends,
    split_model_name,
)
from workbench.summary.backends.prices import estimate_cost, estimate_tokens, price

__all__ = [
    "Backend",
    "BaseBackend",
    "CaseInput",
    "ModelRequest",
    "ModelResponse",
    "estimate_cost",
    "estimate_tokens",
    "get_backend",
    "price",
    "register_backend",
    "reset_backends",
    "split_model_name",
]
