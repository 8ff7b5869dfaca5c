"""History: every generation, recorded before it is shown.

:func:`open_history` opens the history of the configured storage as a :class:`History`: by default a
:class:`SqliteHistory` at ``config.data_dir()/history.sqlite`` (WAL; safe with several processes writing at
once). :meth:`History.search` returns a DataFrame, newest first, for the assistant's History screen and
``workbench history``.

With shared storage configured (``[storage] uri``, see :mod:`workbench.storage`), it is a
:class:`StoredHistory`: one object per generation under
``history/patient=<PATIENT ID>/date=<YYYY-MM-DD>/<UTC time>-<id>.json``, written by anyone at once without
a lock. A patient's history is one listing (a prefix search ``E9738*`` one listing too); other filters read
the objects of the listing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import pandas as pd

from workbench import config
from workbench.errors import NotFoundError
from workbench.files import atomic_write
from workbench.storage import Store, configured_store, read_objects
from workbench.summary.sqlite import Database

logger = logging.getLogger(__name__)


@dataclass
class Generation:
    """One generated summary and everything needed to reproduce and account for it.

    Attributes
    ----------
    id : str
        UUID4.
    timestamp : str
        ISO 8601 with the local UTC offset.
    user : str
        The person (:func:`workbench.summary.identity.local_user`): JupyterHub user, SageMaker user profile,
        configured name or OS login; ``user_source`` says which.
    user_source : str
        ``jupyterhub``, ``sagemaker``, ``configured`` or ``os`` (empty in records older than the field).
    model, prompt_version, prompt_hash, source, patient_id, case_id : str
    repeat : int
    params : dict
        Inference parameters sent.
    output : str
        The summary (identifiers restored if redaction was on).
    sections : dict
        Parsed sections; ``missing_sections`` / ``extra_sections`` list template sections absent or empty
        and headings that are not in the template.
    input_tokens, output_tokens, latency_ms : int
    cost_usd : float
        0.0 on a cache hit.
    stop_reason : str
    truncated, cache_hit, redacted : bool
    sentences : list of dict
        The summary sentence by sentence (:class:`workbench.summary.citations.Sentence` as dicts:
        ``section``, ``text``, ``citations``, ``invalid_citations``). Citations are read only for prompts
        that ask for them; other prompts' sentences are all uncited.
    aws_identity : str
        The ARN of the AWS caller identity of a Bedrock call (empty for other backends or when unknown).
    imaging : str
        What ``$(imaging)`` rested on: ``no_archive``, ``patient_not_in_archive``, ``no_studies_during_stay``
        or ``studies`` (empty when the prompt does not use it).
    """

    id: str
    timestamp: str
    user: str
    model: str
    prompt_version: str
    prompt_hash: str
    source: str
    patient_id: str
    case_id: str
    repeat: int
    params: dict[str, Any]
    output: str
    sections: dict[str, str]
    missing_sections: list[str] = field(default_factory=list)
    extra_sections: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int = 0
    cost_usd: float = 0.0
    stop_reason: str = ""
    truncated: bool = False
    cache_hit: bool = False
    redacted: bool = False
    sentences: list[dict[str, Any]] = field(default_factory=list)
    imaging: str = ""
    user_source: str = ""
    aws_identity: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` (atomically, 0600); returns the path."""
        target = Path(path)
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=2)
        atomic_write(target, text.encode("utf-8"), mode=0o600)
        return target


_FIELDS = [f.name for f in dataclasses.fields(Generation)]
_JSON_FIELDS = {"params", "sections", "missing_sections", "extra_sections", "sentences"}
_BOOL_FIELDS = {"truncated", "cache_hit", "redacted"}
_TEXT_FIELDS_ADDED = ("imaging", "user_source", "aws_identity")
"""Text fields newer than the first histories: empty, not missing, in older records."""
_SQL_TYPES = {
    "repeat": "INTEGER",
    "input_tokens": "INTEGER",
    "output_tokens": "INTEGER",
    "latency_ms": "INTEGER",
    "cost_usd": "REAL",
    **{name: "INTEGER" for name in _BOOL_FIELDS},
}
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS generations ("
    + ", ".join(
        f'"{name}" {_SQL_TYPES.get(name, "TEXT")}' + (" PRIMARY KEY" if name == "id" else "")
        for name in _FIELDS
    )
    + ");"
    "CREATE INDEX IF NOT EXISTS generations_patient ON generations (patient_id, timestamp);"
    "CREATE INDEX IF NOT EXISTS generations_time ON generations (timestamp)"
)
_FILTERS = ("patient_id", "case_id", "model", "prompt_version")


def _like_literal(text: str) -> str:
    """``text`` with the SQL LIKE wildcards ``%`` and ``_`` (and the escape ``\\``) escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filters(
    patient_id: str | None, case_id: str | None, model: str | None, prompt_version: str | None
) -> dict[str, str | None]:
    """The search filters by name (:data:`_FILTERS`), as both histories take them."""
    return {"patient_id": patient_id, "case_id": case_id, "model": model, "prompt_version": prompt_version}


class History(Protocol):
    """The generation history, wherever it is kept (:func:`open_history` opens it)."""

    def record(self, generation: Generation) -> None:
        """Write one generation; it is kept when this returns."""

    def search(
        self,
        patient_id: str | None = None,
        case_id: str | None = None,
        model: str | None = None,
        prompt_version: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> pd.DataFrame:
        """Generations matching every filter given, newest first (see :meth:`SqliteHistory.search`)."""
        ...

    def count(
        self,
        patient_id: str | None = None,
        case_id: str | None = None,
        model: str | None = None,
        prompt_version: str | None = None,
    ) -> int:
        """How many generations :meth:`search` would return without a limit."""
        ...

    def get(self, id: str) -> Generation:
        """One generation by id (:class:`~workbench.errors.NotFoundError` if there is none)."""
        ...


def open_history(path: str | Path | None = None, *, store: Store | None = None) -> History:
    """Open the generation history.

    Parameters
    ----------
    path
        A SQLite file. Without one: the configured store's history when shared storage is configured
        (``[storage] uri``), else ``config.data_dir()/history.sqlite``.
    store
        A store to use instead of the configured one.

    Returns
    -------
    History
        A :class:`SqliteHistory` or a :class:`StoredHistory`.
    """
    if path is not None:
        return SqliteHistory(path)
    resolved = store or configured_store()
    return StoredHistory(resolved) if resolved is not None else SqliteHistory()


class SqliteHistory:
    """The generation history in one SQLite file.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        Default ``config.data_dir()/history.sqlite``.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else config.data_dir() / "history.sqlite"
        self._db = Database(self.path, _SCHEMA)
        self._add_new_columns()

    def _add_new_columns(self) -> None:
        """Give a history written by an older version the columns added since (``sentences``)."""
        present = {row["name"] for row in self._db.query("PRAGMA table_info(generations)")}
        missing = [name for name in _FIELDS if name not in present]
        if missing:
            with self._db.write() as connection:  # again under the lock: another process may have added them
                present = {row[1] for row in connection.execute("PRAGMA table_info(generations)")}
                missing = [name for name in _FIELDS if name not in present]
                for name in missing:
                    connection.execute(
                        f'ALTER TABLE generations ADD COLUMN "{name}" {_SQL_TYPES.get(name, "TEXT")}'
                    )
            logger.info("history %s: added column(s) %s", self.path, ", ".join(missing))

    def record(self, generation: Generation) -> None:
        """Write one generation (in its own transaction; committed when this returns)."""
        row = generation.to_dict()
        values = [
            json.dumps(row[n], ensure_ascii=False)
            if n in _JSON_FIELDS
            else int(row[n])
            if n in _BOOL_FIELDS
            else row[n]
            for n in _FIELDS
        ]
        columns = ", ".join(f'"{n}"' for n in _FIELDS)
        with self._db.write() as connection:
            connection.execute(
                f"INSERT INTO generations ({columns}) VALUES ({', '.join('?' * len(_FIELDS))})", values
            )
        logger.debug("recorded generation %s", generation.id)

    def _where(self, filters: dict[str, str | None]) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for name in _FILTERS:
            value = filters.get(name)
            if value:
                # patient IDs are hex: match regardless of case, and allow a prefix search ("E9738*").
                if name == "patient_id" and value.endswith("*"):
                    # "_" and "%" in an ID are characters, not LIKE wildcards: only the final "*" is one.
                    clauses.append("UPPER(patient_id) LIKE ? ESCAPE '\\'")
                    params.append(_like_literal(value[:-1].upper()) + "%")
                elif name == "patient_id":
                    clauses.append("UPPER(patient_id) = ?")
                    params.append(value.upper())
                else:
                    clauses.append(f'"{name}" = ?')
                    params.append(value)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def search(
        self,
        patient_id: str | None = None,
        case_id: str | None = None,
        model: str | None = None,
        prompt_version: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> pd.DataFrame:
        """Generations matching every filter given, newest first.

        Parameters
        ----------
        patient_id : str, optional
            Exact (case-insensitive), or a prefix ending in ``*``.
        case_id, model, prompt_version : str, optional
        limit, offset : int, optional
            Paging.

        Returns
        -------
        pandas.DataFrame
            One row per generation, columns as :class:`Generation` (JSON fields decoded).
        """
        where, params = self._where(_filters(patient_id, case_id, model, prompt_version))
        sql = f"SELECT * FROM generations{where} ORDER BY timestamp DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [int(limit), int(offset)]
        rows = [self._decode(dict(row)) for row in self._db.query(sql, params)]
        return pd.DataFrame(rows, columns=_FIELDS)

    def count(
        self,
        patient_id: str | None = None,
        case_id: str | None = None,
        model: str | None = None,
        prompt_version: str | None = None,
    ) -> int:
        """How many generations :meth:`search` would return without a limit."""
        where, params = self._where(_filters(patient_id, case_id, model, prompt_version))
        return int(self._db.query(f"SELECT COUNT(*) AS n FROM generations{where}", params)[0]["n"])

    def get(self, id: str) -> Generation:
        """One generation by id.

        Raises
        ------
        NotFoundError
            If there is none.
        """
        rows = self._db.query("SELECT * FROM generations WHERE id = ?", (id,))
        if not rows:
            raise NotFoundError(f"no generation with id {id!r} in {self.path}")
        return Generation(**self._decode(dict(rows[0])))

    @staticmethod
    def _decode(row: dict[str, Any]) -> dict[str, Any]:
        for name in _JSON_FIELDS:
            row[name] = json.loads(row[name]) if row[name] is not None else None
        if row.get("sentences") is None:
            row["sentences"] = []
        for name in _BOOL_FIELDS:
            row[name] = bool(row[name])
        for name in _TEXT_FIELDS_ADDED:  # columns added later: NULL in old rows
            if row.get(name) is None:
                row[name] = ""
        return row


HISTORY_PREFIX = "history"


def _partition(patient_id: str) -> str:
    """The partition folder name of a patient (IDs match case-insensitively, as in SQLite)."""
    return f"patient={quote(patient_id.upper(), safe='')}"


class StoredHistory:
    """The generation history in a :class:`~workbench.storage.Store`: one object per generation.

    Same methods and DataFrame columns as :class:`SqliteHistory`. Newest first is by the generation's
    timestamp (to the second; generations of the same second in no particular order).

    Parameters
    ----------
    store
        Where the history lives.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, generation: Generation) -> None:
        """Write one generation as its own object (stored when this returns)."""
        when = dt.datetime.fromisoformat(generation.timestamp).astimezone(dt.UTC)
        key = (f"{HISTORY_PREFIX}/{_partition(generation.patient_id)}/date={when:%Y-%m-%d}/"
               f"{when:%Y%m%dT%H%M%S}-{generation.id}.json")
        self.store.put(key, json.dumps(generation.to_dict(), ensure_ascii=False).encode("utf-8"),
                       if_absent=True)
        logger.debug("recorded generation %s at %s", generation.id, self.store.location(key))

    def _keys(self, patient_id: str | None) -> list[str]:
        """The objects of the partitions ``patient_id`` selects, newest first."""
        if not patient_id:
            prefix = f"{HISTORY_PREFIX}/"
        elif patient_id.endswith("*"):
            prefix = f"{HISTORY_PREFIX}/{_partition(patient_id[:-1])}"
        else:
            prefix = f"{HISTORY_PREFIX}/{_partition(patient_id)}/"
        return sorted(self.store.keys(prefix), key=lambda k: k.rsplit("/", 1)[-1], reverse=True)

    def _rows(self, filters: dict[str, str | None], limit: int | None, offset: int) -> list[dict[str, Any]]:
        keys = self._keys(filters.get("patient_id"))
        others = {name: value for name, value in filters.items() if value and name != "patient_id"}
        if not others:  # the listing alone decides: read only the page asked for
            keys = keys[offset:] if limit is None else keys[offset:offset + int(limit)]
        rows = [json.loads(data) for data in read_objects(self.store, keys) if data is not None]
        for row in rows:  # objects written before these fields: empty, as in SqliteHistory
            for name in _TEXT_FIELDS_ADDED:
                row.setdefault(name, "")
        if others:
            rows = [row for row in rows if all(row.get(name) == value for name, value in others.items())]
            rows = rows[offset:] if limit is None else rows[offset:offset + int(limit)]
        return rows

    def search(
        self,
        patient_id: str | None = None,
        case_id: str | None = None,
        model: str | None = None,
        prompt_version: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> pd.DataFrame:
        """Generations matching every filter given, newest first (see :meth:`SqliteHistory.search`)."""
        filters = _filters(patient_id, case_id, model, prompt_version)
        return pd.DataFrame(self._rows(filters, limit, offset), columns=_FIELDS)

    def count(
        self,
        patient_id: str | None = None,
        case_id: str | None = None,
        model: str | None = None,
        prompt_version: str | None = None,
    ) -> int:
        """How many generations :meth:`search` would return without a limit."""
        if not (case_id or model or prompt_version):
            return len(self._keys(patient_id))
        return len(self._rows(_filters(patient_id, case_id, model, prompt_version), None, 0))

    def get(self, id: str) -> Generation:
        """One generation by id (a listing of the whole history: prefer :meth:`search` by patient).

        Raises
        ------
        NotFoundError
            If there is none.
        """
        suffix = f"-{id}.json"
        for key in self.store.keys(f"{HISTORY_PREFIX}/"):
            if key.endswith(suffix):
                data = self.store.get(key)
                if data is not None:
                    return Generation(**json.loads(data))
        raise NotFoundError(f"no generation with id {id!r} in {self.store.location(HISTORY_PREFIX)}")
