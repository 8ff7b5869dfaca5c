from __future__ import annotations

import pytest

from workbench import config
from workbench.errors import BackendError
from workbench.summary.backends import estimate_cost, estimate_tokens, price


def test_estimate_tokens_counts_japanese_per_character_and_ascii_per_four() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("発熱が出現した。") == 8
    assert estimate_tokens("CRP 18.6") == 2  # "CRP 18.6": 8 ASCII characters
    assert estimate_tokens("CRP 18.6 高値") == 2 + 2
    assert estimate_tokens("<day-2023-07-25>") == 4


def test_seed_era_and_current_models_have_prices() -> None:
    assert estimate_cost(
        "bedrock:anthropic.claude-3-haiku-20240307-v1:0", 1_000_000, 1_000_000
    ) == pytest.approx(1.5)
    assert estimate_cost("bedrock:anthropic.claude-v2:1", 1000, 0) == pytest.approx(0.008)
    jp = estimate_cost("bedrock:jp.anthropic.claude-sonnet-4-5-20250929-v1:0", 10_000, 1_000)
    glob = estimate_cost("bedrock:global.anthropic.claude-sonnet-4-5-20250929-v1:0", 10_000, 1_000)
    assert glob == pytest.approx(0.045) and jp == pytest.approx(0.0495)


def test_batch_is_half_unless_the_table_says_otherwise() -> None:
    model = "bedrock:anthropic.claude-3-haiku-20240307-v1:0"
    assert estimate_cost(model, 1000, 1000, batch=True) == pytest.approx(estimate_cost(model, 1000, 1000) / 2)


def test_an_unlisted_profile_is_priced_as_its_base_model() -> None:
    assert price("bedrock:apac.anthropic.claude-3-haiku-20240307-v1:0") == price(
        "bedrock:anthropic.claude-3-haiku-20240307-v1:0"
    )


def test_config_overrides_and_extends_the_table() -> None:
    config.update_config(
        "prices",
        {
            "bedrock": {
                "anthropic.claude-3-haiku-20240307-v1:0": {"input": 1, "output": 2},
                "my.custom-model": {"input": 10, "output": 20, "batch_input": 1},
            },
            "openai": {"llama3": {"input": 0.1, "output": 0.2}},
        },
    )
    assert estimate_cost("bedrock:anthropic.claude-3-haiku-20240307-v1:0", 1_000_000, 0) == pytest.approx(1)
    assert estimate_cost("bedrock:my.custom-model", 1_000_000, 1_000_000, batch=True) == pytest.approx(1 + 10)
    assert estimate_cost("openai:llama3", 1_000_000, 0) == pytest.approx(0.1)


def test_free_and_unknown_models() -> None:
    assert estimate_cost("baseline:extractive", 10**6, 10**6) == 0.0
    assert estimate_cost("openai:whatever", 10**6, 10**6) == 0.0
    with pytest.raises(
        BackendError,
        match=r"no price known for bedrock:new.model-v9; add it to .*config\.toml: "
        r'\[prices\.bedrock\."new\.model-v9"\]',
    ):
        estimate_cost("bedrock:new.model-v9", 1, 1)
