"""``manifest.json``: what a run computed and with what.

The manifest holds the spec, the design hash, the case folders, the git commit, package versions and the
SHA-256 of every prompt version used (the experiments build it); this module reads and writes it, on local
disk or in shared storage, and gives the git state and package versions it records.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

from workbench.errors import NotFoundError, WorkbenchError
from workbench.files import atomic_write
from workbench.records.layout import MANIFEST_FILE, run_dirs, runs_location, store_key
from workbench.storage import configured_store

logger = logging.getLogger(__name__)

PACKAGES = (
    "workbench", "boto3", "botocore", "pandas", "numpy", "fugashi", "unidic-lite", "rouge-score", "sacrebleu",
    "scipy", "papermill", "pyyaml", "tqdm",
)
"""Distributions whose versions the manifest records."""


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of a run.

    Raises
    ------
    NotFoundError
        If ``run_dir`` is not a run folder.
    WorkbenchError
        If the manifest is damaged (not a JSON object).
    """
    path = Path(run_dir) / MANIFEST_FILE
    store = configured_store()
    if store is not None:
        key = store_key(path.parent.name, MANIFEST_FILE)
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


def latest_run_dir(runs_dir: str | Path, design_hash: str, *, name: str = "") -> Path:
    """Return the newest run folder of a spec's design (same design hash) in ``runs_dir``.

    Parameters
    ----------
    runs_dir
        Where runs are.
    design_hash
        The spec's design hash.
    name
        The spec's name, for the message.

    Raises
    ------
    NotFoundError
        If there is none.
    """
    for path in reversed(run_dirs(runs_dir)):
        try:
            manifest = read_manifest(path)
        except WorkbenchError as exc:  # another run's damaged manifest must not block this resume
            logger.warning("skipping run %s: %s", path.name, exc)
            continue
        if manifest.get("spec_hash") == design_hash:
            return path
    raise NotFoundError(
        f"no earlier run of spec {name!r} (design {design_hash}) in {runs_location(runs_dir)} to resume; "
        "run without --resume, or pass --resume RUN_DIR"
    )


def publish_manifest(run_dir: str | Path) -> None:
    """Copy the working copy of ``manifest.json`` to the configured store (nothing to do on local disk).

    :func:`write_manifest` calls this after every write, so a stored run is
    listed and resumable from the moment its first result can arrive, and batch job ids reach the store.
    """
    store = configured_store()
    path = Path(run_dir) / MANIFEST_FILE
    if store is not None and path.is_file():
        store.put(store_key(Path(run_dir).name, MANIFEST_FILE), path.read_bytes())


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest.json`` atomically; returns its path."""
    path = Path(run_dir) / MANIFEST_FILE
    atomic_write(path, json.dumps(manifest, ensure_ascii=False, indent=2, default=str).encode("utf-8"))
    publish_manifest(run_dir)  # a run in shared storage: the store's manifest follows every write
    return path


def git_state(folder: Path) -> tuple[str | None, bool | None]:
    """Return (commit, has uncommitted changes) of the git work tree at ``folder``; (None, None) if none."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        logger.info("no git work tree at %s; manifest records no commit", folder)
        return None, None
    return commit, bool(status.strip())


def package_versions() -> dict[str, str | None]:
    """Return the installed version of each distribution in :data:`PACKAGES` (None when not installed)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions
