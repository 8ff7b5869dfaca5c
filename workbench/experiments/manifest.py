"""The run manifest of an experiment: its spec, plan and environment (:mod:`workbench.records.manifest`).

The tokenizer the evaluation used is recorded by the evaluation report, not here: a run does not depend
on how it is scored later.
"""

from __future__ import annotations

import datetime as dt
import platform
from pathlib import Path
from typing import Any

from workbench.experiments.plan import Plan
from workbench.records.manifest import git_state, package_versions


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
        prompt_hashes, python, platform.
    """
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
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
