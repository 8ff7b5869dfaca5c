"""The run folder: ``runs/<run_id>/`` with ``manifest.json`` and ``results.jsonl``.

A run id is a sortable UTC timestamp and the spec's design hash, e.g. ``20250301T101500-3fa2b9c1``, so
``ls runs`` lists runs in time order and the runs of one spec share a suffix. ``results.jsonl`` holds one
JSON object per finished call, appended, flushed and fsynced as each arrives; a process killed while
writing leaves at most a truncated last line, which readers ignore and the next writer cuts off. A call
that failed has a row whose ``error`` is a message; resuming makes it again and appends a new row, so
the last row of a key is the one that counts (:func:`latest_rows`).

Reading goes line by line in bytes: a torn last line (even one cut inside a multi-byte UTF-8 character) is
dropped with a warning, a damaged line before it is an error naming its line number. A full disk while
appending cuts the partial row off again and raises :class:`~workbench.errors.DiskFullError`; the run then
resumes cleanly once space is freed. Only one process works on a run at a time (:func:`lock_run`). Run
folders are 0700 and ``results.jsonl`` 0600 (rows hold patient text).

Shared storage
--------------
With ``[storage] uri`` set (``workbench.storage``), a run lives in the store, written by any number of
people at once: ``<uri>/runs/<run_id>/manifest.json`` and one object per result row under
``<uri>/runs/<run_id>/results/``, so concurrent writers never overwrite each other. The run folder
``runs/<run_id>`` then names the run and is its local working folder (created when the run is read): the
runner writes the manifest there (published to the store when the results writer opens) and reports are
written there. The functions below take that folder and read or write the store transparently, so the
runner, the CLI and the evaluation work on either storage unchanged. The run id is claimed with a
create-only write, so two runs started in the same second get different ids.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import pandas as pd

from workbench.errors import ConfigError, DiskFullError, NotFoundError, WorkbenchError, is_disk_full
from workbench.experiments.spec import ExperimentSpec
from workbench.files import make_folder
from workbench.storage import Store, configured_store, read_objects, unique_suffix

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
MANIFEST_FILE = "manifest.json"
RUNS_DIR_ENV = "WORKBENCH_RUNS_DIR"
RUNS_PREFIX = "runs"
"""Where runs live in a store: ``<uri>/runs/<run_id>/``."""
CLAIM_FILE = "claim.json"
RESULTS_PREFIX = "results"
LOCK_FILE = ".lock"
"""Held (``fcntl.flock``) by the process running or resuming the run."""


def default_runs_dir() -> Path:
    """Return ``$WORKBENCH_RUNS_DIR``, else ``runs`` in the current folder."""
    return Path(os.environ.get(RUNS_DIR_ENV) or "runs")


def create_run_dir(runs_dir: str | Path, spec: ExperimentSpec, *, now: dt.datetime | None = None) -> Path:
    """Create a new, empty run folder named ``<UTC timestamp>-<design hash>`` (suffixed if taken).

    Parameters
    ----------
    runs_dir
        Parent folder (created if missing).
    spec
        The spec whose design hash ends the run id.
    now
        Timestamp (default: the current time).

    Returns
    -------
    Path
        The new folder.
    """
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S")
    base = f"{stamp}-{spec.design_hash()}"
    store = configured_store()
    make_folder(runs_dir, private=True)
    for n in range(1, 1000):
        run_id = base if n == 1 else f"{base}-{n}"
        path = Path(runs_dir) / run_id
        if store is not None:
            claim = json.dumps({"run_id": run_id, "claimed": dt.datetime.now(dt.UTC).isoformat()})
            if not store.put(_store_key(run_id, CLAIM_FILE), claim.encode("utf-8"), if_absent=True):
                continue
            path.mkdir(mode=0o700, exist_ok=True)  # the local working folder of the stored run
            return path.resolve()
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return path.resolve()
    raise WorkbenchError(f"could not create a run folder for {base} in {runs_dir}")  # pragma: no cover


def _store_key(run_id: str, *parts: str) -> str:
    return "/".join((RUNS_PREFIX, run_id, *parts))


def run_dirs(runs_dir: str | Path | None = None) -> list[Path]:
    """Return the run folders (those with a manifest) in ``runs_dir``, oldest first.

    With shared storage configured, the runs in the store, as folders of ``runs_dir`` (which need not
    exist locally yet).

    Parameters
    ----------
    runs_dir
        Default :func:`default_runs_dir`.
    """
    folder = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    store = configured_store()
    if store is not None:
        run_ids = store.folders(RUNS_PREFIX + "/")
        return [(folder / run_id).resolve() for run_id in run_ids
                if store.exists(_store_key(run_id, MANIFEST_FILE))]
    candidates = folder.iterdir() if folder.is_dir() else []
    return sorted(p.resolve() for p in candidates if (p / MANIFEST_FILE).is_file())


def is_run(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` is a run (has a manifest, in the configured storage)."""
    store = configured_store()
    if store is not None:
        return store.exists(_store_key(Path(run_dir).name, MANIFEST_FILE))
    return (Path(run_dir) / MANIFEST_FILE).is_file()


def publish_manifest(run_dir: str | Path) -> None:
    """Copy the working copy of ``manifest.json`` to the configured store (nothing to do on local disk).

    :func:`workbench.experiments.manifest.write_manifest` calls this after every write, so a stored run is
    listed and resumable from the moment its first result can arrive, and batch job ids reach the store.
    """
    store = configured_store()
    path = Path(run_dir) / MANIFEST_FILE
    if store is not None and path.is_file():
        store.put(_store_key(Path(run_dir).name, MANIFEST_FILE), path.read_bytes())


def latest_run_dir(runs_dir: str | Path, spec: ExperimentSpec) -> Path:
    """Return the newest run folder of ``spec`` (same design hash) in ``runs_dir``.

    Raises
    ------
    NotFoundError
        If there is none.
    """
    design = spec.design_hash()
    for path in reversed(run_dirs(runs_dir)):
        try:
            manifest = read_manifest(path)
        except WorkbenchError as exc:  # another run's damaged manifest must not block this resume
            logger.warning("skipping run %s: %s", path.name, exc)
            continue
        if manifest.get("spec_hash") == design:
            return path
    raise NotFoundError(
        f"no earlier run of spec {spec.name!r} (design {design}) in {runs_location(runs_dir)} to resume; "
        "run without --resume, or pass --resume RUN_DIR"
    )


def runs_location(runs_dir: str | Path) -> str:
    """Where runs are kept, for messages: the store's ``runs/`` (shared storage), else ``runs_dir``."""
    store = configured_store()
    return store.location(RUNS_PREFIX) if store is not None else str(Path(runs_dir).resolve())


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of a run.

    Raises
    ------
    NotFoundError
        If ``run_dir`` is not a run folder.
    """
    path = Path(run_dir) / MANIFEST_FILE
    store = configured_store()
    if store is not None:
        key = _store_key(path.parent.name, MANIFEST_FILE)
        data = store.get(key)
        if data is None:
            raise NotFoundError(f"{run_dir} is not a run ({store.location(key)} does not exist)")
        path.parent.mkdir(parents=True, exist_ok=True)  # the working folder, e.g. on another machine
        return json.loads(data)
    if not path.is_file():
        raise NotFoundError(f"{run_dir} is not a run folder (no {MANIFEST_FILE})")
    try:
        manifest = json.loads(path.read_bytes())
    except (ValueError, OSError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise WorkbenchError(
            f"{path} is damaged ({exc}); restore it from a backup or remove the run"
        ) from None
    if not isinstance(manifest, dict):
        raise WorkbenchError(f"{path} is not a JSON object; restore it from a backup or remove the run")
    return manifest


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
    keys = sorted(store.keys(_store_key(run_id, RESULTS_PREFIX, "")),
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


@contextlib.contextmanager
def lock_run(run_dir: str | Path) -> Iterator[None]:
    """Hold the run's lock file (``fcntl.flock``) while running or resuming it.

    The lock goes with the process: a killed run leaves no stale lock.

    Raises
    ------
    WorkbenchError
        If another process holds it (a second ``--resume`` of the same run).
    """
    path = Path(run_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkbenchError(
                f"run {Path(run_dir).name} is being run by another process (it holds {path}); wait for it to "
                "finish, then --resume again"
            ) from None
        yield
    finally:
        os.close(fd)


def latest_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the last row of each key (a resumed call's row replaces its failed one), in first-seen order."""
    by_key: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_key[row["key"]] = row
    return list(by_key.values())


def done_keys(rows: list[dict[str, Any]]) -> set[str]:
    """Return the keys whose latest row has no error (calls a resume need not make again)."""
    return {row["key"] for row in latest_rows(rows) if not row.get("error")}


class ResultsWriter:
    """Append rows to ``results.jsonl`` from many threads: one lock, one line per row, flush and fsync.

    With shared storage configured, ``ResultsWriter(run_dir)`` is a :class:`StoredResultsWriter` (as
    ``Path()`` is a ``PosixPath``).

    Parameters
    ----------
    run_dir
        The run folder.

    Notes
    -----
    Opening cuts a truncated last line left by a killed writer, so the next row starts on its own line.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> ResultsWriter:
        if cls is ResultsWriter and configured_store() is not None:
            return super().__new__(StoredResultsWriter)
        return super().__new__(cls)

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

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class StoredResultsWriter(ResultsWriter):
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
        self.store.put(_store_key(self.run_id, RESULTS_PREFIX, name), data)

    def close(self) -> None:
        """Nothing to close: every row is stored as it is written."""


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
