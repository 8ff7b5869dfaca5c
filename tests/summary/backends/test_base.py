from __future__ import annotations

import pytest

from workbench.errors import BackendError
from workbench.summary.backends import (
    BaseBackend,
    ModelRequest,
    ModelResponse,
    get_backend,
    register_backend,
    reset_backends,
)


def test_model_names_need_a_known_prefix() -> None:
    with pytest.raises(
        BackendError,
        match=r"unknown model backend 'gpt' in 'gpt:4'; known backends: baseline, "
        r"bedrock, openai",
    ):
        get_backend("gpt:4")
    with pytest.raises(BackendError, match="must be named backend:model-id"):
        get_backend("extractive")
    with pytest.raises(BackendError, match="unknown baseline 'abstractive'"):
        get_backend("baseline:abstractive")


def test_register_backend_adds_a_prefix_and_instances_are_reused() -> None:
    class Echo(BaseBackend):
        def __init__(self, model_id: str) -> None:
            self.name = f"echo:{model_id}"

        def generate(self, request: ModelRequest) -> ModelResponse:
            return ModelResponse(request.prompt, 1, 1, 0, "end_turn", False)

    register_backend("echo", Echo)
    backend = get_backend("echo:a")
    assert backend is get_backend("echo:a") and backend.name == "echo:a"
    assert backend.generate(ModelRequest(None, "hi", 5)).text == "hi"
    register_backend("echo", Echo)
    renewed = get_backend("echo:a")
    assert renewed is not backend
    reset_backends()
    assert get_backend("echo:a") is not renewed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.1, "top_p": 0.9}, "not both"),
        ({"max_tokens": 0}, "max_tokens must be a positive integer"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
        ({"temperature": 3.0}, "temperature must be between 0 and 2"),
        ({"prompt": " "}, "the prompt is empty"),
    ],
)
def test_requests_are_validated(kwargs: dict, message: str) -> None:
    values = {"system": None, "prompt": "p", "max_tokens": 10, **kwargs}
    with pytest.raises(BackendError, match=message):
        ModelRequest(**values)
