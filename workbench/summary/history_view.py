"""The History screen's table: search by ID prefix, sort, rows per page, one generation in full.

Plain functions over a :class:`~workbench.summary.history.History`; the assistant's History tab calls them.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import math

import pandas as pd

from workbench.errors import NotFoundError
from workbench.summary.cases import Source
from workbench.summary.history import History
from workbench.summary.prompts import PromptRegistry

logger = logging.getLogger(__name__)

SORTS = ("Timestamp ↓", "Timestamp ↑", "Id ↑", "Id ↓")
"""Sort orders the History screen offers (newest first by default)."""

PAGE_SIZES = (10, 25, 50, 100)
"""Rows per page the History screen offers."""


def search_history(history: History, query: str = "") -> pd.DataFrame:
    """Generations whose patient ID or generation ID starts with ``query`` (case-insensitive; all if empty).

    ``A660`` finds patient ``A660EFEB…``; an explicit ``*`` at the end means the same.
    """
    prefix = query.strip().rstrip("*").upper()
    if not prefix:
        return history.search()
    found = history.search(patient_id=prefix + "*")
    if found.empty:  # not a patient: a generation ID prefix
        everything = history.search()
        found = everything[everything["id"].str.upper().str.startswith(prefix)]
    return found


def history_table(
    history: History, query: str = "", *, page: int = 1, page_size: int = 10, sort: str = SORTS[0]
) -> tuple[pd.DataFrame, int, int, int]:
    """One page of the History screen.

    Parameters
    ----------
    history
        The generation history.
    query
        Patient ID or generation ID prefix; empty lists everything (then a ``Patient`` column is shown).
    page, page_size
        1-based page (past the end: the last page) and rows per page.
    sort
        One of :data:`SORTS`.

    Returns
    -------
    tuple
        ``(rows, page, n_pages, total)``: rows with ``Id``, ``Timestamp``, (``Patient``,) ``User``, ``Model``,
        ``PromptVersion``, ``SrcData``.

    Raises
    ------
    ValueError
        ``page_size`` not positive or an unknown ``sort``.
    """
    if page_size <= 0:
        raise ValueError(f"page_size must be positive, got {page_size}")
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    frame = search_history(history, query)
    column = "timestamp" if sort.startswith("Timestamp") else "id"
    frame = frame.sort_values([column, "id"], ascending=sort.endswith("↑"), kind="stable")
    total = len(frame)
    n_pages = max(1, math.ceil(total / page_size))
    page = min(max(1, page), n_pages)
    frame = frame.iloc[(page - 1) * page_size : page * page_size]
    rows = pd.DataFrame(
        {
            "Id": frame["id"].tolist(),
            "Timestamp": [
                dt.datetime.fromisoformat(t).strftime("%Y/%m/%d %H:%M:%S") for t in frame["timestamp"]
            ],
            "Patient": [f"{p[:12]}…" if len(p) > 12 else p for p in frame["patient_id"]],
            "User": frame["user"].tolist(),
            "Model": frame["model"].tolist(),
            "PromptVersion": frame["prompt_version"].tolist(),
            "SrcData": [Source(s).label for s in frame["source"]],
        }
    )
    if query.strip():
        rows = rows.drop(columns="Patient")
    return rows, page, n_pages, total


def generation_detail(history: History, registry: PromptRegistry, id_or_prefix: str) -> str:
    """A past generation in full, as HTML: its summary text and the prompt version it was made with.

    Raises
    ------
    NotFoundError
        No generation has that ID (or ID prefix), or the prefix is ambiguous.
    """
    key = id_or_prefix.strip()
    matches = search_history(history, key) if key else pd.DataFrame()
    ids = [i for i in matches.get("id", pd.Series(dtype=str)) if i.upper().startswith(key.upper())]
    if len(ids) != 1:
        raise NotFoundError(
            f"generation {key!r}: {'no such ID' if not ids else f'{len(ids)} IDs start with it'}; "
            "type more of the ID shown in the table"
        )
    generation = history.get(ids[0])
    try:
        prompt = registry.get(generation.prompt_version)
        prompt_text = prompt.body
    except Exception as exc:  # a version deleted since: say so instead of failing the screen
        logger.warning("prompt %s of generation %s: %s", generation.prompt_version, generation.id, exc)
        prompt_text = f"(prompt version {generation.prompt_version} is no longer in the registry)"
    pre = "<pre style='white-space: pre-wrap; font-size: 90%'>{}</pre>"
    return (
        f"<h4>Generation {html.escape(generation.id)}</h4>"
        f"<p>{html.escape(generation.timestamp)} · {html.escape(generation.model)} · patient "
        f"{html.escape(generation.patient_id[:12])}… · {html.escape(Source(generation.source).label)}</p>"
        "<h4>Summary</h4>"
        + pre.format(html.escape(generation.output))
        + f"<h4>Prompt {html.escape(generation.prompt_version)}</h4>"
        + pre.format(html.escape(prompt_text))
    )
