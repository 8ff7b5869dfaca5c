"""Every notebook is committed clean: no outputs, the project's kernel, one parameters cell, a title.

A notebook saved with outputs leaks data (patient names, images) into git and breaks papermill's diff; a
notebook with another kernel name does not run under ``make test``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
SECRET = re.compile(r"(password|secret|aws_secret_access_key)\s*=\s*['\"]", re.IGNORECASE)


def test_there_are_notebooks() -> None:
    assert ALL, f"no notebooks in {NOTEBOOKS}"


@pytest.fixture(params=ALL, ids=[p.name for p in ALL])
def notebook(request: pytest.FixtureRequest) -> tuple[Path, dict]:
    path: Path = request.param
    try:
        return path, json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        pytest.fail(f"{path.name} is not valid JSON: {exc}")


def test_committed_without_outputs(notebook: tuple[Path, dict]) -> None:
    path, nb = notebook
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], (
                f"{path.name} cell {index} has outputs; clear them before committing"
            )
            assert cell.get("execution_count") is None, f"{path.name} cell {index} has an execution_count"


def test_uses_the_workbench_kernel(notebook: tuple[Path, dict]) -> None:
    path, nb = notebook
    assert nb["metadata"]["kernelspec"]["name"] == "workbench", f"{path.name}: kernelspec must be 'workbench'"


def test_has_exactly_one_parameters_cell(notebook: tuple[Path, dict]) -> None:
    path, nb = notebook
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name} has {len(tagged)} cells tagged 'parameters', expected 1"
    assert tagged[0]["cell_type"] == "code"


def test_starts_with_a_markdown_title(notebook: tuple[Path, dict]) -> None:
    path, nb = notebook
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown" and "".join(first["source"]).startswith("# "), (
        f"{path.name}: the first cell must be a markdown title ('# ...')"
    )


def test_holds_no_credentials(notebook: tuple[Path, dict]) -> None:
    path, nb = notebook
    for index, cell in enumerate(nb["cells"]):
        assert not SECRET.search("".join(cell["source"])), (
            f"{path.name} cell {index} seems to hold a credential"
        )


def test_has_its_own_test(notebook: tuple[Path, dict]) -> None:
    path, _ = notebook
    test = Path(__file__).with_name(f"test_{path.stem}.py")
    assert test.exists(), f"{path.name} has no test {test.name} that executes it"


MAX_CELL_LINES = 15


def test_holds_no_logic(notebook: tuple[Path, dict]) -> None:
    """Notebooks only call the package: no function or class definitions, no long code cells."""
    import ast

    path, nb = notebook
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        lines = source.strip().splitlines()
        assert len(lines) <= MAX_CELL_LINES, (
            f"{path.name} cell {index} has {len(lines)} lines (at most {MAX_CELL_LINES}): "
            "move the logic into the package"
        )
        code = "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))  # IPython magics
        defined = [node for node in ast.walk(ast.parse(code))
                   if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)]
        assert not defined, (
            f"{path.name} cell {index} defines a {type(defined[0]).__name__}: move it into the package"
        )
