"""The run folder: ``runs/<run_id>/`` with ``manifest.json`` and ``results.jsonl``; where runs are.

A run id is a sortable UTC timestamp and the spec's design hash, e.g. ``20250301T101500-3fa2b9c1``, so
``ls runs`` lists runs in time order and the runs of one spec share a suffix. ``results.jsonl`` holds one
JSON object per finished call, appended, flushed and fsynced as each arrives; a process killed while
writing leaves at most a truncated last line, which readers ignore and the next writer cuts off. A call
that failed has a row whose ``error`` is a message; resuming makes it again and appends a new row, so
the last row of a key is the one that counts (:func:`latest_rows`).

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

Only one process works on a run at a time (:func:`lock_run`). Run folders are 0700 (their rows hold
patient text).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from workbench.config import EnvVar, env_value
from workbench.errors import WorkbenchError
from workbench.files import make_folder
from workbench.storage import configured_store

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
MANIFEST_FILE = "manifest.json"
RUNS_DIR_ENV = EnvVar.RUNS_DIR.value
RUNS_PREFIX = "runs"
"""Where runs live in a store: ``<uri>/runs/<run_id>/``."""
CLAIM_FILE = "claim.json"
RESULTS_PREFIX = "results"
LOCK_FILE = ".lock"
"""Held (``fcntl.flock``) by the process running or resuming the run."""


def default_runs_dir() -> Path:
    """Return ``$WORKBENCH_RUNS_DIR``, else ``runs`` in the current folder."""
    return Path(env_value(EnvVar.RUNS_DIR) or "runs")


def create_run_dir(runs_dir: str | Path, design_hash: str, *, now: dt.datetime | None = None) -> Path:
    """Create a new, empty run folder named ``<UTC timestamp>-<design hash>`` (suffixed if taken).

    Parameters
    ----------
    runs_dir
        Parent folder (created if missing).
    design_hash
        The design hash of the experiment spec, which ends the run id.
    now
        Timestamp (default: the current time).

    Returns
    -------
    Path
        The new folder.
    """
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S")
    base = f"{stamp}-{design_hash}"
    store = configured_store()
    make_folder(runs_dir, private=True)
    for n in range(1, 1000):
        run_id = base if n == 1 else f"{base}-{n}"
        path = Path(runs_dir) / run_id
        if store is not None:
            claim = json.dumps({"run_id": run_id, "claimed": dt.datetime.now(dt.UTC).isoformat()})
            if not store.put(store_key(run_id, CLAIM_FILE), claim.encode("utf-8"), if_absent=True):
                continue
            path.mkdir(mode=0o700, exist_ok=True)  # the local working folder of the stored run
            return path.resolve()
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return path.resolve()
    raise WorkbenchError(f"could not create a run folder for {base} in {runs_dir}")  # pragma: no cover


def store_key(run_id: str, *parts: str) -> str:
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
                if store.exists(store_key(run_id, MANIFEST_FILE))]
    candidates = folder.iterdir() if folder.is_dir() else []
    return sorted(p.resolve() for p in candidates if (p / MANIFEST_FILE).is_file())


def is_run(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` is a run (has a manifest, in the configured storage)."""
    store = configured_store()
    if store is not None:
        return store.exists(store_key(Path(run_dir).name, MANIFEST_FILE))
    return (Path(run_dir) / MANIFEST_FILE).is_file()


def runs_location(runs_dir: str | Path) -> str:
    """Where runs are kept, for messages: the store's ``runs/`` (shared storage), else ``runs_dir``."""
    store = configured_store()
    return store.location(RUNS_PREFIX) if store is not None else str(Path(runs_dir).resolve())


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
