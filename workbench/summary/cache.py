"""The response cache: a call made once is never paid for twice.

The key is a SHA-256 of the backend and model id (the model name), the inference parameters, the system
prompt, the rendered prompt as sent, and the repeat number: repeats of one experiment cell are distinct
calls, but re-running the same repeat is free. :func:`open_cache` opens it as a :class:`ResponseCache`: by
default a :class:`SqliteResponseCache` at ``config.cache_dir()/responses.sqlite``.

With shared storage configured (``[storage] uri``, see :mod:`workbench.storage`), it is a
:class:`StoredResponseCache`: one object per key, ``cache/<key[:2]>/<key>.json``, written create-only, so
the first answer stays and a team shares every answer paid for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Protocol

from workbench import config
from workbench.storage import Store, configured_store
from workbench.summary.backends.base import ModelResponse
from workbench.summary.sqlite import Database

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    model TEXT NOT NULL,
    response TEXT NOT NULL
)
"""


def cache_key(
    model: str,
    params: dict[str, Any],
    system: str | None,
    prompt: str,
    repeat: int = 0,
    *,
    context: str | None = None,
) -> str:
    """The cache key of one call.

    Parameters
    ----------
    model : str
        ``backend:model-id``.
    params : dict
        Inference parameters (``max_tokens``, ``temperature``/``top_p`` ...).
    system, prompt : str
        As sent to the model (after redaction, if any).
    repeat : int
        Repeat number of the same call.
    context : str, optional
        What else the answer depends on, for backends that read more than the prompt (``baseline:`` reads
        the case and source).
    """
    canonical = json.dumps(
        {
            "model": model,
            "params": params,
            "system": system,
            "prompt": prompt,
            "repeat": int(repeat),
            "context": context,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache(Protocol):
    """Model responses by :func:`cache_key`, wherever they are kept (:func:`open_cache` opens it)."""

    def get(self, key: str) -> ModelResponse | None:
        """The cached response, or ``None``."""
        ...

    def put(self, key: str, model: str, response: ModelResponse) -> None:
        """Store a response (an existing key keeps its first answer)."""

    def __len__(self) -> int: ...

    def __contains__(self, key: str) -> bool: ...


def open_cache(path: str | Path | None = None, *, store: Store | None = None) -> ResponseCache:
    """Open the response cache.

    Parameters
    ----------
    path
        A SQLite file. Without one: the configured store's cache when shared storage is configured
        (``[storage] uri``), else ``config.cache_dir()/responses.sqlite``.
    store
        A store to use instead of the configured one.

    Returns
    -------
    ResponseCache
        A :class:`SqliteResponseCache` or a :class:`StoredResponseCache`.
    """
    if path is not None:
        return SqliteResponseCache(path)
    resolved = store or configured_store()
    return StoredResponseCache(resolved) if resolved is not None else SqliteResponseCache()


class SqliteResponseCache:
    """The response cache in one SQLite file.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        Default ``config.cache_dir()/responses.sqlite``.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else config.cache_dir() / "responses.sqlite"
        self._db = Database(self.path, _SCHEMA)

    def get(self, key: str) -> ModelResponse | None:
        """The cached response, or ``None``."""
        rows = self._db.query("SELECT response FROM responses WHERE key = ?", (key,))
        return ModelResponse(**json.loads(rows[0]["response"])) if rows else None

    def put(self, key: str, model: str, response: ModelResponse) -> None:
        """Store a response (an existing key keeps its first answer)."""
        payload = json.dumps(dataclasses.asdict(response), ensure_ascii=False)
        with self._db.write() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO responses (key, created, model, response) VALUES (?, ?, ?, ?)",
                (key, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), model, payload),
            )

    def __len__(self) -> int:
        return int(self._db.query("SELECT COUNT(*) AS n FROM responses")[0]["n"])

    def __contains__(self, key: str) -> bool:
        return bool(self._db.query("SELECT 1 FROM responses WHERE key = ?", (key,)))


CACHE_PREFIX = "cache"


class StoredResponseCache:
    """The response cache in a :class:`~workbench.storage.Store`: ``cache/<key[:2]>/<key>.json``.

    Parameters
    ----------
    store
        Where the cache lives.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _key(key: str) -> str:
        return f"{CACHE_PREFIX}/{key[:2]}/{key}.json"

    def get(self, key: str) -> ModelResponse | None:
        """The cached response, or ``None``."""
        data = self.store.get(self._key(key))
        return ModelResponse(**json.loads(data)["response"]) if data is not None else None

    def put(self, key: str, model: str, response: ModelResponse) -> None:
        """Store a response (an existing key keeps its first answer)."""
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        record = {"key": key, "created": created, "model": model, "response": dataclasses.asdict(response)}
        self.store.put(self._key(key), json.dumps(record, ensure_ascii=False).encode("utf-8"), if_absent=True)

    def __len__(self) -> int:
        return len(self.store.keys(f"{CACHE_PREFIX}/"))

    def __contains__(self, key: str) -> bool:
        return self.store.exists(self._key(key))
