"""The fields of one ``results.jsonl`` row: the contract between experiments (writing) and evaluation.

Every row a run writes has exactly :data:`RESULT_COLUMNS`, in this order (:func:`result_row` builds it).
Readers must accept rows written by older versions that lack some of them (missing fields read as NA).
"""

from __future__ import annotations

from typing import Any

RESULT_COLUMNS: tuple[str, ...] = (
    "key",
    "run_id",
    "prompt_version",
    "prompt_hash",
    "model",
    "source",
    "case_id",
    "patient_id",
    "repeat",
    "params",
    "generation_id",
    "output",
    "sections",
    "missing_sections",
    "extra_sections",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "cost_usd",
    "stop_reason",
    "truncated",
    "cache_hit",
    "imaging",
    "user",
    "aws_identity",
    "error",
    "attempts",
    "timestamp",
)
"""The fields of a ``results.jsonl`` row, in the order they are written."""

GROUP_COLUMNS: tuple[str, ...] = ("prompt_version", "model", "source")
"""What one configuration of a run is."""


def result_row(**fields: Any) -> dict[str, Any]:
    """One results row with every field of :data:`RESULT_COLUMNS`, in order.

    Parameters
    ----------
    **fields
        The row's values, named as in :data:`RESULT_COLUMNS`; a field not given is ``None``.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        For a name that is not a results field (a programming error, not a user's).
    """
    unknown = set(fields) - set(RESULT_COLUMNS)
    if unknown:
        raise ValueError(f"not results fields: {sorted(unknown)}; the fields are {list(RESULT_COLUMNS)}")
    return {name: fields.get(name) for name in RESULT_COLUMNS}
