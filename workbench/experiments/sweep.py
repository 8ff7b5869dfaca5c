"""Execute one notebook with several parameter sets through papermill, a few at a time.

Each execution is a separate ``papermill`` process with an explicit kernel (``workbench`` by default, never
whatever kernel the notebook was last saved with), so a crashing or memory-hungry run cannot take the others
down, and its log is kept beside its output notebook. A failed execution still leaves its notebook (papermill
writes the cell that failed) and is reported, not raised. ``sweep.json`` in the output folder lists every
execution; :func:`workbench.experiments.record.collect` then gathers what the notebooks recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import itertools
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from workbench.errors import SpecError
from workbench.files import atomic_write, make_folder
from workbench.optional import optional_import

yaml = optional_import("yaml", what="running sweeps")

logger = logging.getLogger(__name__)

DEFAULT_KERNEL = "workbench"
INDEX_FILE = "sweep.json"


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Return every combination of the values in ``grid`` (``{"repeats": [1, 2], "x": [a]}`` -> 2 sets).

    Raises
    ------
    SpecError
        If a value list is empty or not a list.
    """
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SpecError(f"sweep grid: {name} must be a non-empty list of values, got {values!r}")
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(grid[n] for n in names))]


def load_parameter_sets(path: str | Path) -> list[dict[str, Any]]:
    """Read parameter sets from YAML: a list of mappings, or ``{"grid": {name: [values]}}``.

    Raises
    ------
    SpecError
        If the file is missing or holds neither form.
    """
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"sweep parameter file {file} does not exist")
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    if isinstance(data, dict) and set(data) == {"grid"} and isinstance(data["grid"], dict):
        return expand_grid(data["grid"])
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        return data
    raise SpecError(f"{file}: expected a list of parameter mappings or {{grid: {{name: [values]}}}}")


def sweep(
    notebook: str | Path,
    parameter_sets: Sequence[Mapping[str, Any]],
    *,
    out_dir: str | Path,
    jobs: int = 2,
    kernel: str = DEFAULT_KERNEL,
    cwd: str | Path | None = None,
    timeout: float | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Execute ``notebook`` once per parameter set, at most ``jobs`` at a time.

    Parameters
    ----------
    notebook
        The notebook to execute.
    parameter_sets
        One mapping of papermill parameters per execution.
    out_dir
        Where the executed notebooks (``<stem>-<NNN>-<hash>.ipynb``), their logs and ``sweep.json`` go.
    jobs
        Executions in parallel.
    kernel
        The Jupyter kernel to execute with.
    cwd
        Working folder of the cells (default: the notebook's folder, as in JupyterLab).
    timeout
        Seconds per cell (papermill's ``--execution-timeout``); ``None`` for no limit.
    progress
        Show a progress bar over executions.

    Returns
    -------
    pandas.DataFrame
        One row per execution: index, output, log, ok, returncode, seconds, error, then ``param_<name>``.

    Raises
    ------
    SpecError
        If the notebook does not exist, there are no parameter sets, ``jobs`` < 1, or papermill is missing.
    """
    source = Path(notebook).resolve()
    if not source.is_file():
        raise SpecError(f"notebook {notebook} does not exist")
    if not parameter_sets:
        raise SpecError("a sweep needs at least one parameter set")
    if jobs < 1:
        raise SpecError(f"jobs must be >= 1, got {jobs}")
    if importlib.util.find_spec("papermill") is None:
        raise SpecError("papermill is not installed: pip install 'workbench[notebooks]'")
    out = make_folder(Path(out_dir).resolve())
    workdir = Path(cwd).resolve() if cwd else source.parent

    def execute(index: int, parameters: Mapping[str, Any]) -> dict[str, Any]:
        digest = hashlib.sha256(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()[:6]
        output = out / f"{source.stem}-{index:03d}-{digest}.ipynb"
        params_file = output.with_suffix(".params.yaml")
        atomic_write(params_file, yaml.safe_dump(dict(parameters), allow_unicode=True).encode("utf-8"))
        log = output.with_suffix(".log")
        command = [sys.executable, "-m", "papermill", str(source), str(output), "--kernel", kernel,
                   "--parameters_file", str(params_file), "--cwd", str(workdir), "--no-progress-bar"]
        if timeout is not None:
            command += ["--execution-timeout", str(int(timeout))]
        started = time.monotonic()
        with os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as log_file:
            completed = subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT, check=False)
        seconds = time.monotonic() - started
        error = None if completed.returncode == 0 else _last_error(log)
        if error:
            logger.warning("sweep execution %d failed (%s): %s", index, log, error)
        return {"index": index, "output": str(output), "log": str(log), "ok": completed.returncode == 0,
                "returncode": completed.returncode, "seconds": round(seconds, 2), "error": error,
                "parameters": dict(parameters)}

    bar = tqdm(total=len(parameter_sets), desc=f"sweep {source.stem}", unit="run", disable=not progress)
    results: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="sweep") as pool:
        futures = [pool.submit(execute, i, p) for i, p in enumerate(parameter_sets)]
        for future in as_completed(futures):
            results.append(future.result())
            bar.update(1)
    bar.close()
    results.sort(key=lambda r: r["index"])
    index = {"notebook": str(source), "kernel": kernel, "cwd": str(workdir),
             "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "runs": results}
    text = json.dumps(index, ensure_ascii=False, indent=2, default=str)
    atomic_write(out / INDEX_FILE, text.encode("utf-8"))
    frame = pd.DataFrame([{k: v for k, v in r.items() if k != "parameters"} for r in results])
    parameters = pd.DataFrame([r["parameters"] for r in results]).add_prefix("param_")
    return pd.concat([frame, parameters], axis=1)


def _last_error(log: Path) -> str:
    """The most telling line of a failed papermill log: the exception line, else the last line."""
    text = log.read_text(encoding="utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line:
            return line[:500]
    return lines[-1][:500] if lines else "papermill failed without output"
