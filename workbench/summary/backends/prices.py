"""Token estimates and prices: what a call will cost, before and after it is made.

The default price table is package data (``prices.toml``); ``[prices.<backend>."<model id>"]`` tables in
``config.toml`` override or extend it. Model ids are configuration, never logic.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import tomllib
import unicodedata
from importlib import resources
from typing import Any

from workbench import config
from workbench.errors import BackendError
from workbench.summary.backends.base import split_model_name

logger = logging.getLogger(__name__)

BATCH_DISCOUNT = 0.5
"""Batch price as a fraction of on-demand when the table gives none (Bedrock batch is about half)."""

_PROFILE_PREFIX_RE = re.compile(r"^(?:global|us|us-gov|eu|apac|jp|au|ca)\.")
_FREE_BACKENDS = ("baseline",)
_ASCII_RUN_RE = re.compile(r"[\x00-\x7f]+")


def estimate_tokens(text: str) -> int:
    """Estimate the tokens of a (mostly Japanese) text without a tokenizer.

    The heuristic: one token per non-ASCII character (kanji, kana, full-width forms), plus one token per four
    characters of each ASCII run (Latin words, digits, tags), rounded up. Claude's and GPT's tokenizers give
    roughly 0.7 to 1.0 token per Japanese character, so this tends to over-estimate by up to about 30%:
    safe for budgets and dry runs, not for billing (bills use the tokens the service reports).

    Parameters
    ----------
    text : str

    Returns
    -------
    int
    """
    text = unicodedata.normalize("NFC", text)
    ascii_chars = 0
    tokens = 0
    for run in _ASCII_RUN_RE.findall(text):
        ascii_chars += len(run)
        tokens += math.ceil(len(run.strip()) / 4) if run.strip() else 0
    return tokens + (len(text) - ascii_chars)


@functools.cache
def _default_table() -> dict[str, Any]:
    data = resources.files("workbench.summary.backends").joinpath("prices.toml").read_text(encoding="utf-8")
    return tomllib.loads(data)


def price(model_name: str) -> dict[str, float] | None:
    """The price entry of a model (USD per million tokens: input, output, batch_input, batch_output).

    Looks in ``config.toml`` ``[prices.<backend>]`` first, then the package table; an inference profile
    (``jp.``, ``apac.``, ``global.`` ...) not listed falls back to its base model id. ``None`` if unknown.

    Raises
    ------
    BackendError
        If a configured entry lacks ``input`` or ``output``.
    """
    backend, model_id = split_model_name(model_name)
    candidates = [model_id]
    base = _PROFILE_PREFIX_RE.sub("", model_id)
    if base != model_id:
        candidates.append(base)
    for candidate in candidates:
        for table in (
            config.prices_table(backend).get(candidate),
            _default_table().get(backend, {}).get(candidate),
        ):
            if table is None:
                continue
            if not isinstance(table, dict) or "input" not in table or "output" not in table:
                raise BackendError(
                    f"price of {model_name} must give 'input' and 'output' in USD per million tokens"
                )
            entry = {"input": float(table["input"]), "output": float(table["output"])}
            entry["batch_input"] = float(table.get("batch_input", entry["input"] * BATCH_DISCOUNT))
            entry["batch_output"] = float(table.get("batch_output", entry["output"] * BATCH_DISCOUNT))
            return entry
    return None


def estimate_cost(model_name: str, input_tokens: int, output_tokens: int, *, batch: bool = False) -> float:
    """Cost in USD of a call with these token counts.

    Parameters
    ----------
    model_name : str
        ``backend:model-id``.
    input_tokens, output_tokens : int
    batch : bool
        Use the batch price (about half of on-demand; from the table, else :data:`BATCH_DISCOUNT`).

    Returns
    -------
    float
        0.0 for ``baseline:`` and for ``openai:`` (on-premises) models without a configured price.

    Raises
    ------
    BackendError
        For a ``bedrock:`` model with no price: add one to ``config.toml`` (the message shows how).
    """
    backend, model_id = split_model_name(model_name)
    if backend in _FREE_BACKENDS:
        return 0.0
    entry = price(model_name)
    if entry is None:
        if backend == "bedrock":
            raise BackendError(
                f"no price known for {model_name}; add it to {config.config_path()}: "
                f'[prices.bedrock."{model_id}"] input = <USD per 1M input tokens>, '
                "output = <USD per 1M output tokens>"
            )
        return 0.0
    rate_in, rate_out = (
        (entry["batch_input"], entry["batch_output"]) if batch else (entry["input"], entry["output"])
    )
    return (input_tokens * rate_in + output_tokens * rate_out) / 1_000_000
