"""``results.jsonl``: one row per finished call, read and written on local disk or in shared storage.

A call that failed has a row whose ``error`` is a message; resuming makes it again and appends a new row, so
the last row of a key is the one that counts (:func:`latest_rows`). :func:`open_results` opens the writer
for the configured storage: a :class:`FileResultsWriter` appending to the local file, or a
:class:`StoredResultsWriter` writing one object per row.

Reading goes line by line in bytes: a torn last line (even one cut inside a multi-byte UTF-8 character) is
dropped with a warning, a damaged line before it is an error naming its line number. A full disk while
appending cuts the partial row off again and raises :class:`~workbench.errors.DiskFullError`; the run then
resumes cleanly once space is freed. ``results.jsonl`` is 0600 (rows hold patient text).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote

import pandas as pd

from workbench.errors import ConfigError, DiskFullError, WorkbenchError, is_disk_full
from workbench.records.layout import RESULTS_FILE, RESULTS_PREFIX, run_dirs, store_key
from workbench.records.manifest import read_manifest
from workbench.storage import Store, configured_store, read_objects, unique_suffix

logger = logging.getLogger(__name__)


def read_results(run_dir: str | Path) -> list[dict[str, Any]]:
    """Read every row of ``results.jsonl`` in order (a truncated last line is skipped with a warning).

    Raises
    ------
    WorkbenchError
        If a line other than the last is not a JSON object.
    """
    store = configured_store()
    if store is not None:
        return _read_stored_results(store, Path(run_dir).name)
    path = Path(run_dir) / RESULTS_FILE
    if not path.exists():
        return []
    rows = []
    with open(path, "rb") as fh:  # bytes: a line cut inside a UTF-8 character must not sink the file
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            except ValueError:
                row = None
            if isinstance(row, dict):
                rows.append(row)
                continue
            if not line.endswith(b"\n"):  # the last line, without its newline: the writer was cut off
                logger.warning(
                    "%s:%d is a torn last line (%d bytes; the run was killed or the disk filled while "
                    "writing); dropped: --resume makes that call again", path, number, len(line),
                )
                continue
            raise WorkbenchError(
                f"{path}:{number} is not a JSON object: the results file is damaged; restore it from a "
                f"backup, or delete line {number} to make --resume repeat that call"
            )
    return rows


def _read_stored_results(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The rows of a stored run in the order they were written (object names carry the time)."""
    keys = sorted(store.keys(store_key(run_id, RESULTS_PREFIX, "")),
                  key=lambda k: (k.rsplit("-", 2)[-2], k))
    rows = []
    for key, data in zip(keys, read_objects(store, keys), strict=True):
        if data is None:
            continue
        try:
            rows.append(json.loads(data))
        except json.JSONDecodeError:
            raise WorkbenchError(
                f"{store.location(key)} is not a JSON object; the result is damaged"
            ) from None
    return rows


def latest_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the last row of each key (a resumed call's row replaces its failed one), in first-seen order."""
    by_key: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_key[row["key"]] = row
    return list(by_key.values())


def done_keys(rows: list[dict[str, Any]]) -> set[str]:
    """Return the keys whose latest row has no error (calls a resume need not make again)."""
    return {row["key"] for row in latest_rows(rows) if not row.get("error")}


class ResultsWriter(Protocol):
    """What the runner writes result rows to (:func:`open_results` opens one)."""

    def write(self, row: dict[str, Any]) -> None:
        """Write one row; it is durable when this returns."""

    def close(self) -> None:
        """Release what the writer holds."""

    def __enter__(self) -> ResultsWriter: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def open_results(run_dir: str | Path, *, store: Store | None = None) -> ResultsWriter:
    """Open the results writer of a run for the configured storage.

    Parameters
    ----------
    run_dir
        The run folder (with shared storage, the run's local working folder; its name is the run id).
    store
        A store to write to (default: the configured one; none configured: the local ``results.jsonl``).

    Returns
    -------
    ResultsWriter
        A :class:`StoredResultsWriter` with shared storage, else a :class:`FileResultsWriter`.
    """
    resolved = store or configured_store()
    if resolved is not None:
        return StoredResultsWriter(run_dir, resolved)
    return FileResultsWriter(run_dir)


class _Closing:
    """Context-manager methods shared by the writers."""

    def close(self) -> None:
        """Nothing to close."""

    def __enter__(self) -> ResultsWriter:
        return self  # type: ignore[return-value]  # the subclasses implement the protocol

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class FileResultsWriter(_Closing):
    """Append rows to ``results.jsonl`` from many threads: one lock, one line per row, flush and fsync.

    Parameters
    ----------
    run_dir
        The run folder.

    Notes
    -----
    Opening cuts a truncated last line left by a killed writer, so the next row starts on its own line.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / RESULTS_FILE
        self._lock = threading.Lock()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)  # private from the start
        self._file = os.fdopen(fd, "a+b")
        self._repair_tail()

    def _repair_tail(self) -> None:
        size = self._file.seek(0, os.SEEK_END)
        if size == 0:
            return
        self._file.seek(0)
        data = self._file.read()
        if data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        logger.warning("cutting a truncated last line off %s (%d bytes)", self.path, size - keep)
        self._file.truncate(keep)
        self._file.seek(0, os.SEEK_END)

    def write(self, row: dict[str, Any]) -> None:
        """Append one row and force it to disk before returning."""
        line = json.dumps(row, ensure_ascii=False, default=str).encode("utf-8") + b"\n"
        with self._lock:
            end = self._file.seek(0, os.SEEK_END)
            try:
                self._file.write(line)
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as exc:
                self._discard_from(end)  # never leave half a row for the next row to be glued to
                if not is_disk_full(exc):
                    raise
                raise DiskFullError(
                    f"cannot append to {self.path}: the disk is full ({exc.strerror or exc}); the rows "
                    "written so far are kept: free space and continue with 'workbench experiment run SPEC "
                    "--resume'"
                ) from None

    def _discard_from(self, end: int) -> None:
        """Drop the unwritten bytes and cut the file back to ``end`` bytes (best effort: the disk failed)."""
        with contextlib.suppress(OSError, ValueError):
            self._file.close()  # flushes the rest again and fails; the file is closed all the same
        with contextlib.suppress(OSError):
            os.truncate(self.path, end)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(fd, "a+b")

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class StoredResultsWriter(_Closing):
    """Write each row as its own object, ``<uri>/runs/<run_id>/results/<key>-<UTC time>-<random>.json``.

    Objects are never rewritten, so any number of processes can write to one run at once.

    Parameters
    ----------
    run_dir
        The run's local working folder (its name is the run id).
    store
        Default: the configured store.
    """

    def __init__(self, run_dir: str | Path, store: Store | None = None) -> None:
        resolved = store or configured_store()
        if resolved is None:
            raise ConfigError("StoredResultsWriter needs a store: set [storage] uri or pass store=")
        self.store: Store = resolved
        self.run_id = Path(run_dir).name

    def write(self, row: dict[str, Any]) -> None:
        """Write one row as a new object (stored when this returns)."""
        name = f"{quote(str(row['key']), safe='')}-{unique_suffix()}.json"
        data = json.dumps(row, ensure_ascii=False, default=str).encode("utf-8")
        self.store.put(store_key(self.run_id, RESULTS_PREFIX, name), data)


def list_runs(runs_dir: str | Path | None = None) -> pd.DataFrame:
    """Summarise the runs in a folder, oldest first.

    Returns
    -------
    pandas.DataFrame
        Columns run_id, name, created, planned, done, errors, cache_hits, cost_usd, path.
    """
    records = []
    for path in run_dirs(runs_dir):
        try:
            manifest = read_manifest(path)
            rows = latest_rows(read_results(path))
        except WorkbenchError as exc:  # one damaged run must not hide the others
            logger.warning("skipping run %s: %s", path.name, exc)
            continue
        records.append({
            "run_id": manifest.get("run_id", path.name),
            "name": manifest.get("spec", {}).get("name"),
            "created": manifest.get("created"),
            "planned": manifest.get("n_calls"),
            "done": sum(1 for r in rows if not r.get("error")),
            "errors": sum(1 for r in rows if r.get("error")),
            "cache_hits": sum(1 for r in rows if r.get("cache_hit")),
            "cost_usd": sum(float(r.get("cost_usd") or 0) for r in rows),
            "path": str(path),
        })
    columns = ["run_id", "name", "created", "planned", "done", "errors", "cache_hits", "cost_usd", "path"]
    return pd.DataFrame(records, columns=columns)


def results_table(run_dir: str | Path) -> pd.DataFrame:
    """Summarise a run's results per (prompt_version, model, source).

    Returns
    -------
    pandas.DataFrame
        Columns prompt_version, model, source, calls, errors, cache_hits, sections_complete (share of
        outputs holding all four sections), input_tokens and output_tokens (means), latency_ms (median),
        cost_usd (sum).
    """
    columns = ["prompt_version", "model", "source", "calls", "errors", "cache_hits", "sections_complete",
               "input_tokens", "output_tokens", "latency_ms", "cost_usd"]
    rows = latest_rows(read_results(run_dir))
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    frame["failed"] = frame["error"].notna()
    frame["complete"] = frame["missing_sections"].map(lambda m: isinstance(m, list) and not m)
    table = (
        frame.groupby(["prompt_version", "model", "source"])
        .agg(calls=("key", "size"), errors=("failed", "sum"), cache_hits=("cache_hit", "sum"),
             sections_complete=("complete", "mean"), input_tokens=("input_tokens", "mean"),
             output_tokens=("output_tokens", "mean"), latency_ms=("latency_ms", "median"),
             cost_usd=("cost_usd", "sum"))
        .reset_index()
    )
    return table[columns]
