"""The response cache: a call made once is never paid for twice.

The key is a SHA-256 of the backend and model id (the model name), the inference parameters, the system
prompt, the rendered prompt as sent, and the repeat number: repeats of one experiment cell are distinct
calls, but re-running the same repeat is free. SQLite at ``config.cache_dir()/responses.sqlite``.

With shared storage configured (``[storage] uri``, see :mod:`workbench.storage`), ``ResponseCache()`` is a
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
from typing import Any

from workbench import config
from workbench.errors import ConfigError
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


class ResponseCache:
    """Model responses by :func:`cache_key`.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        Default ``config.cache_dir()/responses.sqlite``; with shared storage configured and no ``path``,
        the cache in the store (a :class:`StoredResponseCache`, as ``Path()`` is a ``PosixPath``).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> ResponseCache:
        path = args[0] if args else kwargs.get("path")
        if cls is ResponseCache and path is None and configured_store() is not None:
            return super().__new__(StoredResponseCache)
        return super().__new__(cls)

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


class StoredResponseCache(ResponseCache):
    """The response cache in a :class:`~workbench.storage.Store`: ``cache/<key[:2]>/<key>.json``.

    Parameters
    ----------
    path
        Unused (``ResponseCache()`` passes ``None``); the cache lives in ``store``.
    store
        Default: the configured store.
    """

    def __init__(self, path: str | Path | None = None, *, store: Store | None = None) -> None:
        resolved = store or configured_store()
        if resolved is None:
            raise ConfigError("StoredResponseCache needs a store: set [storage] uri or pass store=")
        self.store: Store = resolved
        self.path = None  # type: ignore[assignment]  # no SQLite file

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
