"""Record named results inside notebooks and collect them from many executed notebooks.

A small replacement for scrapbook (unmaintained since 2021, pinned to old pandas/pyarrow), in the same
spirit: :func:`record` displays the value as an output with its own MIME type, so the executed notebook
itself carries it, and :func:`collect` reads those outputs (and papermill's parameters) from any number of
notebooks into one DataFrame. Outside a notebook, or when ``$WORKBENCH_RECORDS_FILE`` (or ``sidecar=``)
names a file, the value is also merged into that JSON file, which :func:`collect` reads too.

Values must be JSON-serialisable after a light conversion: numpy scalars and arrays, paths, and pandas
DataFrames (stored as ``{"__dataframe__": <split orient>}`` and rebuilt by :func:`collect`).
"""

from __future__ import annotations

import glob
import io
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.config import EnvVar
from workbench.files import atomic_write, make_folder
from workbench.optional import optional_import

logger = logging.getLogger(__name__)

MIME_TYPE = "application/vnd.workbench.record+json"
SIDECAR_ENV = EnvVar.RECORDS_FILE.value
_FRAME_KEY = "__dataframe__"


def record(name: str, value: Any, *, sidecar: str | Path | None = None) -> None:
    """Record ``value`` under ``name`` for :func:`collect`.

    Parameters
    ----------
    name
        The record's name; recording the same name again replaces the value.
    value
        A JSON-serialisable value, numpy value, path or pandas DataFrame.
    sidecar
        A JSON file to merge the record into (default ``$WORKBENCH_RECORDS_FILE``, if set).

    Raises
    ------
    TypeError
        If the value cannot be stored as JSON.
    """
    payload = {"name": name, "value": json.loads(json.dumps(value, default=_encode, ensure_ascii=False))}
    if isinstance(value, pd.DataFrame):
        text = f"DataFrame, {len(value)} rows: {', '.join(map(str, value.columns))}"
    else:
        text = json.dumps(payload["value"], ensure_ascii=False)
    shown = _display(payload, f"{name} = {text if len(text) <= 200 else text[:200] + '…'}")
    target = sidecar or os.environ.get(SIDECAR_ENV)
    if target:
        _merge_sidecar(Path(target), name, payload["value"])
    elif not shown:
        logger.warning("record(%r) outside a notebook with no sidecar file: set %s", name, SIDECAR_ENV)


def collect(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """Gather the records of executed notebooks (and sidecar JSON files) into one DataFrame.

    Parameters
    ----------
    paths
        A notebook, a sidecar ``.json``, a folder (its ``*.ipynb``), a glob pattern, or a list of these.

    Returns
    -------
    pandas.DataFrame
        One row per file: ``notebook`` (the path), the papermill parameters as ``param_<name>`` columns,
        then one column per record name (DataFrames come back as DataFrames).

    Raises
    ------
    FileNotFoundError
        If a path or pattern matches no file.
    """
    rows = []
    for path in _expand(paths):
        if path.suffix == ".ipynb":
            parameters, records = _read_notebook(path)
        else:
            parameters, records = {}, json.loads(path.read_text(encoding="utf-8"))
        row: dict[str, Any] = {"notebook": str(path)}
        row.update({f"param_{key}": value for key, value in parameters.items()})
        row.update({key: _decode(value) for key, value in records.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _encode(value: Any) -> Any:
    if isinstance(value, pd.DataFrame):
        return {_FRAME_KEY: json.loads(value.to_json(orient="split", date_format="iso", force_ascii=False))}
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(
        f"cannot record a {type(value).__name__}; record JSON data, numbers, arrays or DataFrames"
    )


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {_FRAME_KEY}:
        return pd.read_json(io.StringIO(json.dumps(value[_FRAME_KEY])), orient="split")
    return value


def _display(payload: dict[str, Any], text: str) -> bool:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return False
    if get_ipython() is None:
        return False
    display({MIME_TYPE: payload, "text/plain": text}, raw=True)
    return True


def _merge_sidecar(path: Path, name: str, value: Any) -> None:
    records = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    records[name] = value
    make_folder(path.parent)
    atomic_write(path, json.dumps(records, ensure_ascii=False, indent=1).encode("utf-8"))


def _expand(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            matches = sorted(path.glob("*.ipynb"))
        elif path.exists():
            matches = [path]
        else:
            matches = sorted(Path(p) for p in glob.glob(str(item), recursive=True))
        if not matches:
            raise FileNotFoundError(f"no notebook or record file matches {item}")
        found.extend(matches)
    return found


def _read_notebook(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    nbformat = optional_import("nbformat", what="collecting notebook records")  # only collecting needs it

    notebook = nbformat.read(path, as_version=4)
    parameters = dict(notebook.metadata.get("papermill", {}).get("parameters", {}))
    records: dict[str, Any] = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(MIME_TYPE)
            if payload is not None:
                records[payload["name"]] = payload["value"]
    return parameters, records
