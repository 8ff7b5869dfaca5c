"""Fixtures for the experiment tests: a counting model backend, the demo cases, spec files."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from workbench import config
from workbench.errors import ThrottledError
from workbench.summary.backends import (
    BaseBackend,
    ModelRequest,
    ModelResponse,
    estimate_tokens,
    register_backend,
)

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "eval" / "cases"
PREFIX = "count"
SUMMARY = (
    "・ 現病歴\n肺炎で入院。\n・ 併存症\n高血圧。\n"
    "・ 重大な身体所見およびその他の所見\n発熱。\n・ 入院中の治療経過\n抗菌薬で改善。"
)


@dataclass
class CountingBackend(BaseBackend):
    """A model that answers at once and counts its calls (``count:<model id>``).

    Behaviour: ``throttle`` ThrottledErrors before each success; ``fail_when(request)`` true makes the call
    raise RuntimeError (a broken service); ``crash_after`` raises KeyboardInterrupt on the call after that
    many successes (a simulated kill).
    """

    model_id: str
    throttle: int = 0
    crash_after: int | None = None
    fail_when: Callable[[ModelRequest], bool] | None = None
    calls: list[ModelRequest] = field(default_factory=list)
    attempts: int = 0
    _seen: dict[tuple[str | None, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return f"{PREFIX}:{self.model_id}"

    def generate(self, request: ModelRequest) -> ModelResponse:
        with self._lock:
            self.attempts += 1
            # counted per request, so that concurrent calls do not eat each other's successes
            key = (request.system, request.prompt)
            seen = self._seen.get(key, 0)
            self._seen[key] = seen + 1
            if self.throttle and seen % (self.throttle + 1) < self.throttle:
                raise ThrottledError("simulated throttling")
            if self.crash_after is not None and len(self.calls) >= self.crash_after:
                raise KeyboardInterrupt("simulated kill")
            if self.fail_when and self.fail_when(request):
                raise RuntimeError("simulated service failure")
            self.calls.append(request)
        return ModelResponse(
            text=SUMMARY, input_tokens=estimate_tokens((request.system or "") + request.prompt),
            output_tokens=estimate_tokens(SUMMARY), latency_ms=1, stop_reason="end_turn", truncated=False,
        )


@dataclass
class Backends:
    """The counting backends made since the fixture started, by model id."""

    made: dict[str, CountingBackend] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def install(self, **options: Any) -> None:
        """(Re)register the prefix: new backends with these options and fresh counters."""
        self.made.clear()
        self.options = options

        def factory(model_id: str) -> CountingBackend:
            backend = CountingBackend(model_id, **self.options)
            self.made[model_id] = backend
            return backend

        register_backend(PREFIX, factory)

    @property
    def n_calls(self) -> int:
        return sum(len(b.calls) for b in self.made.values())


@pytest.fixture
def repo_root() -> Path:
    """The project folder."""
    return ROOT


@pytest.fixture
def cases_dir() -> Path:
    """``eval/cases``: the demo cases."""
    return CASES


@pytest.fixture
def backends() -> Backends:
    """Counting backends under ``count:``; call ``backends.install(...)`` again to change behaviour."""
    registry = Backends()
    registry.install()
    return registry


@pytest.fixture
def priced() -> None:
    """Give ``count:priced`` a price: $1000 per million tokens in and out ($0.001 a token)."""
    path = config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[prices.count."priced"]\ninput = 1000.0\noutput = 1000.0\n', encoding="utf-8")


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a spec file in the test's folder: ``write_spec(**keys) -> path`` (default: 2 cases, 1 prompt)."""

    def write(name: str = "spec.yaml", **keys: Any) -> Path:
        data: dict[str, Any] = {
            "name": "test", "prompts": ["v1"], "models": [f"{PREFIX}:m"], "sources": ["doctor"],
            "cases": [str(p) for p in sorted(CASES.iterdir())[:2]], "repeats": 1, "concurrency": 2,
        }
        data.update(keys)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path

    return write
