"""The run manifest: everything needed to say later what a run computed and with what.

``manifest.json`` holds the spec, the design hash, the case folders, the git commit, package versions,
the SHA-256 of every prompt version used, and the tokenizer and dictionary versions the evaluation's
Japanese metrics depend on (``workbench.evaluation.tokenize.tokenizer_info``).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import logging
import platform
import subprocess
from pathlib import Path
from typing import Any

from workbench.experiments.plan import Plan
from workbench.experiments.rundir import MANIFEST_FILE, publish_manifest
from workbench.files import atomic_write

logger = logging.getLogger(__name__)

PACKAGES = (
    "workbench", "boto3", "botocore", "pandas", "numpy", "fugashi", "unidic-lite", "rouge-score", "sacrebleu",
    "scipy", "papermill", "pyyaml", "tqdm",
)
"""Distributions whose versions the manifest records."""


def build_manifest(run_dir: Path, plan: Plan) -> dict[str, Any]:
    """Describe a new run of ``plan`` in ``run_dir``.

    Parameters
    ----------
    run_dir
        The run folder; its name is the run id.
    plan
        The plan being run.

    Returns
    -------
    dict
        Keys run_id, created, spec, spec_hash, n_calls, cases, git_commit, git_dirty, packages,
        prompt_hashes, tokenizer, python, platform.
    """
    from workbench.evaluation.tokenize import tokenizer_info  # lazy: loads MeCab and its dictionary

    commit, dirty = git_state(Path(__file__).resolve().parents[2])
    return {
        "run_id": run_dir.name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "spec": plan.spec.to_dict(),
        "spec_hash": plan.spec.design_hash(),
        "n_calls": len(plan.calls),
        "cases": {case_id: str(Path(case.path).resolve()) if case.path else None
                  for case_id, case in plan.cases.items()},
        "git_commit": commit,
        "git_dirty": dirty,
        "packages": package_versions(),
        "prompt_hashes": {version: prompt.sha256 for version, prompt in plan.prompts.items()},
        "tokenizer": tokenizer_info(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


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
