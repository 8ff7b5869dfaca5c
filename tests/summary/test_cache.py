from __future__ import annotations

from pathlib import Path

from workbench.summary.backends import ModelResponse
from workbench.summary.cache import SqliteResponseCache, cache_key, open_cache


def test_the_key_covers_model_params_prompt_and_repeat() -> None:
    base = cache_key("bedrock:m", {"max_tokens": 10}, None, "p", 0)
    assert base == cache_key("bedrock:m", {"max_tokens": 10}, None, "p", 0)
    others = {
        cache_key("bedrock:n", {"max_tokens": 10}, None, "p", 0),
        cache_key("openai:m", {"max_tokens": 10}, None, "p", 0),
        cache_key("bedrock:m", {"max_tokens": 11}, None, "p", 0),
        cache_key("bedrock:m", {"max_tokens": 10, "temperature": 0}, None, "p", 0),
        cache_key("bedrock:m", {"max_tokens": 10}, "s", "p", 0),
        cache_key("bedrock:m", {"max_tokens": 10}, None, "q", 0),
        cache_key("bedrock:m", {"max_tokens": 10}, None, "p", 1),
        cache_key("bedrock:m", {"max_tokens": 10}, None, "p", 0, context="case/doctor"),
    }
    assert base not in others and len(others) == 8


def test_put_get_and_persistence(tmp_path: Path) -> None:
    cache = open_cache(tmp_path / "c.sqlite")
    response = ModelResponse("本文", 10, 20, 300, "end_turn", False)
    assert cache.get("k") is None and "k" not in cache
    cache.put("k", "bedrock:m", response)
    cache.put("k", "bedrock:m", ModelResponse("second", 1, 1, 1, "end_turn", False))  # first answer is kept
    assert open_cache(tmp_path / "c.sqlite").get("k") == response and len(cache) == 1


def test_default_location_is_the_cache_folder() -> None:
    from workbench import config

    cache = open_cache()
    assert isinstance(cache, SqliteResponseCache) and cache.path == config.cache_dir() / "responses.sqlite"
