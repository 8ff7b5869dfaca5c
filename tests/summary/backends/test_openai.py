"""The openai: backend against a real local HTTP server speaking chat completions."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from workbench.errors import BackendError, ThrottledError
from workbench.summary.backends import ModelRequest, get_backend
from workbench.summary.backends.openai import OpenAIBackend


class ChatServer:
    """A tiny chat-completions server: answers are queued (status, body, headers); requests are kept."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, Any, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                server.requests.append(
                    {
                        "path": self.path,
                        "auth": self.headers.get("Authorization"),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                status, body, headers = server.answers.pop(0)
                payload = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def answer(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.answers.append((status, body, headers or {}))


def completion(text: str, finish: str = "stop", usage: tuple[int, int] = (812, 95)) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "llama3.1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


@pytest.fixture
def server() -> Iterator[ChatServer]:
    chat = ChatServer()
    thread = threading.Thread(target=chat.httpd.serve_forever, daemon=True)
    thread.start()
    yield chat
    chat.httpd.shutdown()
    chat.httpd.server_close()
    thread.join()


def test_a_chat_completion_round_trip(server: ChatServer, monkeypatch) -> None:
    monkeypatch.setenv("WORKBENCH_OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("WORKBENCH_OPENAI_API_KEY", "sk-local")
    server.answer(body=completion("・ 現病歴\n発熱"))
    backend = get_backend("openai:llama3.1")
    response = backend.generate(
        ModelRequest(system="あなたは医師です。", prompt="要約して", max_tokens=512, temperature=0.0)
    )
    assert (
        response.text,
        response.input_tokens,
        response.output_tokens,
        response.stop_reason,
        response.truncated,
    ) == ("・ 現病歴\n発熱", 812, 95, "stop", False)
    assert response.latency_ms >= 0
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-local"
    assert request["body"] == {
        "model": "llama3.1",
        "max_tokens": 512,
        "temperature": 0.0,
        "messages": [
            {"role": "system", "content": "あなたは医師です。"},
            {"role": "user", "content": "要約して"},
        ],
    }


def test_length_finish_is_truncated_and_no_key_sends_no_header(server: ChatServer) -> None:
    server.answer(body=completion("途中", finish="length"))
    response = OpenAIBackend("qwen", base_url=server.url).generate(ModelRequest(None, "p", 5, top_p=0.5))
    assert response.truncated and server.requests[0]["auth"] is None
    assert server.requests[0]["body"]["top_p"] == 0.5 and "temperature" not in server.requests[0]["body"]


def test_429_is_retried_honouring_retry_after_then_throttled(server: ChatServer) -> None:
    waits: list[float] = []
    backend = OpenAIBackend("m", base_url=server.url, max_attempts=3, sleep=waits.append)
    server.answer(429, {"error": "busy"}, {"Retry-After": "7"})
    server.answer(200, completion("OK"))
    assert backend.generate(ModelRequest(None, "p", 5)).text == "OK" and waits == [7.0]
    for _ in range(3):
        server.answer(429, {"error": "busy"})
    with pytest.raises(ThrottledError, match=r"rate limited \(429\) after 3 attempts"):
        backend.generate(ModelRequest(None, "p", 5))


@pytest.mark.parametrize(
    ("status", "message"),
    [(401, "refused the API key"), (404, "check the model name"), (400, "answered 400")],
)
def test_errors_are_one_clear_message(server: ChatServer, status: int, message: str) -> None:
    server.answer(status, {"error": {"message": "nope"}})
    with pytest.raises(BackendError, match=message):
        OpenAIBackend("m", base_url=server.url).generate(ModelRequest(None, "p", 5))


def test_a_malformed_answer_is_an_error(server: ChatServer) -> None:
    server.answer(200, {"unexpected": True})
    with pytest.raises(BackendError, match="not a chat-completions answer"):
        OpenAIBackend("m", base_url=server.url).generate(ModelRequest(None, "p", 5))


def test_unreachable_server_and_missing_configuration() -> None:
    with pytest.raises(BackendError, match="no server configured; set WORKBENCH_OPENAI_BASE_URL"):
        OpenAIBackend("m")
    backend = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", max_attempts=1)
    with pytest.raises(BackendError, match=r"cannot reach http://127\.0\.0\.1:9/v1"):
        backend.generate(ModelRequest(None, "p", 5))
