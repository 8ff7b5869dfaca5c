"""SQLite opened the way history and the response cache need it: WAL, a busy timeout, one writer at a time.

WAL lets readers proceed while one process writes; ``busy_timeout`` makes a second writer wait for the lock
instead of failing, so two notebooks, or an experiment and the assistant, can record at the same time.
Writes use ``BEGIN IMMEDIATE`` so that a transaction takes the write lock up front. Within one process a
lock serialises threads sharing the connection (the experiment runner calls from a thread pool).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000


class Database:
    """One SQLite file.

    Parameters
    ----------
    path : pathlib.Path
        Created (with its folder) if missing.
    schema : str
        Idempotent DDL (``CREATE TABLE IF NOT EXISTS ...``), statements separated by ``;``.

    Raises
    ------
    ConfigError
        If the folder cannot be created or the file is not a SQLite database.
    """

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self._connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA synchronous = NORMAL")
            with self.write() as connection:
                for statement in (s.strip() for s in schema.split(";")):
                    if statement:
                        connection.execute(statement)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise ConfigError(f"cannot open the database {path}: {exc}") from None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT``, ``ROLLBACK`` on error."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query; rows support access by column name."""
        with self._lock:
            cursor = self._connection.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def add_missing_columns(self, table: str, columns: dict[str, str]) -> None:
        """Add the ``columns`` (name -> SQL type) that ``table`` lacks (a file of an older version)."""
        present = {row["name"] for row in self.query(f'PRAGMA table_info("{table}")')}
        missing = {name: kind for name, kind in columns.items() if name not in present}
        if missing:
            with self.write() as connection:
                for name, kind in missing.items():
                    connection.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {kind}')
            logger.info("added column(s) %s to %s in %s", ", ".join(missing), table, self.path)
