"""Reading an experiment's run folder (``runs/<run_id>/``) for evaluation.

With shared storage configured (``[storage] uri``), the run is read from the store
(:mod:`workbench.records`); reports are written to the local run folder.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import NotFoundError
from workbench.records.layout import MANIFEST_FILE, default_runs_dir, is_run, run_dirs, runs_location
from workbench.records.manifest import read_manifest
from workbench.records.results import latest_rows, read_results
from workbench.records.schema import RESULT_COLUMNS

logger = logging.getLogger(__name__)

def load_run(run_dir: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """Read a run folder: its manifest and the latest result of every call.

    A call that failed and was made again on resume has two rows; the last one counts. A truncated last line
    (a run killed while writing) is skipped.

    Parameters
    ----------
    run_dir
        The run folder (``runs/<run_id>``).

    Returns
    -------
    manifest : dict
        ``manifest.json``.
    results : pandas.DataFrame
        One row per call with the columns of :data:`workbench.records.schema.RESULT_COLUMNS` (missing
        fields are NA), plus ``ok`` (no error and a non-empty output).

    Raises
    ------
    NotFoundError
        If ``run_dir`` is not a run folder.
    """
    path = Path(run_dir)
    if not is_run(path):
        raise NotFoundError(
            f"{path} is not a run folder (no {MANIFEST_FILE}); "
            "give the folder that 'workbench experiment run' printed"
        )
    manifest = read_manifest(path)
    rows = latest_rows(read_results(path))
    frame = pd.DataFrame(rows)
    for column in RESULT_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.NA
    frame = frame[[*RESULT_COLUMNS, *[c for c in frame.columns if c not in RESULT_COLUMNS]]]
    frame["ok"] = frame["error"].isna() & frame["output"].fillna("").astype(str).str.strip().ne("")
    logger.info(
        "run %s: %d calls, %d ok", manifest.get("run_id", path.name), len(frame), int(frame["ok"].sum())
    )
    return manifest, frame


def latest_run(runs_dir: str | Path | None = None) -> Path:
    """The newest run folder (by run id, which starts with its UTC timestamp) in ``runs_dir``.

    Parameters
    ----------
    runs_dir
        Folder holding run folders (default: ``$WORKBENCH_RUNS_DIR``, else ``runs`` in the current folder).

    Returns
    -------
    Path

    Raises
    ------
    NotFoundError
        If it holds no run folder.
    """
    folder = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    runs = run_dirs(folder)
    if not runs:
        raise NotFoundError(
            f"no run folder (with {MANIFEST_FILE}) in {runs_location(folder)}; "
            "run 'workbench experiment run SPEC'"
            " or notebook 03 first, or name the run folder"
        )
    return runs[-1]
