"""OpenAI-compatible chat completions: vLLM, Ollama, llama.cpp, LM Studio ... on premises.

``openai:<model>`` POSTs to ``<base URL>/chat/completions`` (the base URL includes ``/v1``, as in the OpenAI
SDK: ``http://127.0.0.1:8000/v1``). Settings: ``WORKBENCH_OPENAI_BASE_URL`` / ``[openai] base_url``,
``WORKBENCH_OPENAI_API_KEY`` / ``[openai] api_key`` (optional; many local servers need none), ``[openai]
timeout`` (seconds, default 300) and ``max_attempts`` (default 4). 429 and 5xx answers are retried with
exponential backoff, honouring ``Retry-After``.

We speak the protocol with ``requests`` rather than the ``openai`` SDK: the wire format is small and stable,
and this keeps one fewer dependency for on-premises installs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import requests

from workbench import config
from workbench.errors import BackendError, ThrottledError
from workbench.summary.backends.base import BaseBackend, CaseInput, ModelRequest, ModelResponse

logger = logging.getLogger(__name__)

_RETRY_STATUS = {429, 500, 502, 503, 504}


class OpenAIBackend(BaseBackend):
    """``openai:<model>`` on an OpenAI-compatible server.

    Parameters
    ----------
    model : str
        The model name the server knows (``llama3.1:70b``, ``Qwen/Qwen2.5-72B-Instruct`` ...).
    base_url, api_key : str, optional
        Default: from the settings.
    timeout : float, optional
    max_attempts : int, optional
    sleep : callable
        ``time.sleep``; tests replace it.

    Raises
    ------
    BackendError
        If no base URL is configured.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        max_attempts: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.name = f"openai:{model}"
        settings = config.openai_settings()
        base_url = base_url or settings.base_url
        if not base_url:
            raise BackendError(
                f"{self.name}: no server configured; set WORKBENCH_OPENAI_BASE_URL "
                "(e.g. http://127.0.0.1:8000/v1) or [openai] base_url in config.toml"
            )
        self.base_url = str(base_url).rstrip("/")
        self._api_key = api_key or settings.api_key
        self.timeout = float(timeout or settings.timeout)
        self.max_attempts = int(max_attempts or settings.max_attempts)
        self._session = requests.Session()
        self._sleep = sleep

    def payload(self, request: ModelRequest) -> dict[str, Any]:
        """The chat-completions request body for ``request``."""
        messages = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": request.prompt})
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": request.max_tokens}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop_sequences:
            body["stop"] = list(request.stop_sequences)
        return body

    def generate(self, request: ModelRequest, case: CaseInput | None = None) -> ModelResponse:
        """POST one chat completion.

        Raises
        ------
        ThrottledError
            Still 429 after :attr:`max_attempts`.
        BackendError
            Unreachable server, refused key, unknown model, or a malformed answer.
        """
        url = f"{self.base_url}/chat/completions"
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        body = self.payload(request)
        for attempt in range(1, self.max_attempts + 1):
            started = time.monotonic()
            try:
                answer = self._session.post(url, json=body, headers=headers, timeout=(10, self.timeout))
            except requests.RequestException as exc:
                if attempt < self.max_attempts and isinstance(exc, requests.ConnectionError):
                    self._sleep(2**attempt)
                    continue
                raise BackendError(
                    f"{self.name}: cannot reach {self.base_url} ({type(exc).__name__}); "
                    "is the server running and WORKBENCH_OPENAI_BASE_URL right?"
                ) from None
            if answer.status_code in _RETRY_STATUS and attempt < self.max_attempts:
                delay = _retry_after(answer) or 2**attempt
                logger.warning("%s answered %d; retrying in %.0f s", self.name, answer.status_code, delay)
                self._sleep(delay)
                continue
            latency = int((time.monotonic() - started) * 1000)
            return self._parse(answer, latency)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _parse(self, answer: requests.Response, latency: int) -> ModelResponse:
        detail = answer.text[:300]
        if answer.status_code == 429:
            raise ThrottledError(
                f"{self.name} is rate limited (429) after {self.max_attempts} attempts: {detail}"
            )
        if answer.status_code in (401, 403):
            raise BackendError(
                f"{self.name}: the server refused the API key ({answer.status_code}); "
                "set WORKBENCH_OPENAI_API_KEY"
            )
        if answer.status_code == 404:
            raise BackendError(
                f"{self.name}: not found at {self.base_url} (404: {detail}); check the model "
                "name and that the base URL ends in /v1"
            )
        if answer.status_code >= 400:
            raise BackendError(f"{self.name}: the server answered {answer.status_code}: {detail}")
        try:
            data = answer.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise BackendError(f"{self.name}: not a chat-completions answer: {detail}") from None
        usage = data.get("usage") or {}
        finish = str(choice.get("finish_reason") or "")
        return ModelResponse(
            text=text,
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            latency_ms=latency,
            stop_reason=finish,
            truncated=finish == "length",
        )


def _retry_after(answer: requests.Response) -> float | None:
    value = answer.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None
