"""nbval for the workbench's notebooks: every code cell a pytest item, at the tiny test parameters.

``pytest --nbval-lax notebooks/`` (``make test``) collects ``notebooks/*.ipynb`` with nbval; this plugin
(registered by the repository's root ``conftest.py``) replaces nbval's collector with one that

- inserts, after the cell tagged ``parameters``, a cell with the notebook's tiny parameters from
  :func:`tests.notebooks.parameters.tiny_parameters`, written as papermill writes its injected cell (the
  item is named ``Cell N (injected parameters)``, N being the parameters cell);
- starts the kernel in ``notebooks/`` (as JupyterLab and ``make demo`` do) with the environment of a test:
  its own config, data and cache folders, no AWS credentials, and ``WORKBENCH_ORTHANC_*`` pointing at a
  test Orthanc holding the demo hospital for notebooks that read the archive (:mod:`tests.session`: the
  same server machinery as the ``orthanc``/``demo_hospital`` fixtures, but an instance of the notebooks' own,
  so that checked outputs do not depend on the studies other tests uploaded before);
- takes the expected outputs of cells marked ``# NBVAL_CHECK_OUTPUT`` from the reference notebook
  ``tests/notebooks/reference/<name>.ipynb`` (the committed notebooks carry no outputs), compared after
  the patterns of ``tests/notebooks/nbval_sanitize.cfg`` (paths, UIDs, times) are applied to both sides.

``--refresh-notebook-references`` runs the notebooks without comparing and rewrites the reference notebooks
from what the checked cells showed (``make refresh-notebook-references``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from tests.notebooks.parameters import NEEDS_ARCHIVE, NOTEBOOKS, ROOT, tiny_parameters
from tests.session import isolated_environment, orthanc_environment, session_demo_hospital, session_orthanc

try:
    import nbformat
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, RunningKernel
    from nbval.plugin import IPyNbCell, IPyNbFile, NbCellError, find_comment_markers
except ImportError:  # a core-only install (make test-core) has no notebook stack
    IPyNbFile = None

REFERENCES = Path(__file__).resolve().parent / "reference"
SANITIZE = Path(__file__).resolve().parent / "nbval_sanitize.cfg"
CHECK_MARKER = "NBVAL_CHECK_OUTPUT"
REFRESH_COMMAND = "make refresh-notebook-references"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("nbval").addoption(
        "--refresh-notebook-references",
        action="store_true",
        help="run the notebooks without comparing outputs and rewrite tests/notebooks/reference/*.ipynb",
    )
    parser.getgroup("nbval").addoption(
        "--notebook-references",
        default=str(REFERENCES),
        help="the folder of reference notebooks (default: tests/notebooks/reference)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if IPyNbFile is None or not (config.option.nbval or config.option.nbval_lax):
        return
    if config.option.nbval_sanitize_with is None:
        config.option.nbval_sanitize_with = str(SANITIZE)


def _is_checked(cell: Any) -> bool:
    return any(marker == ("check", True) for marker in find_comment_markers(cell.source))


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Any:
    collected = yield
    if IPyNbFile is None or file_path.suffix != ".ipynb":
        return collected
    if REFERENCES in file_path.resolve().parents:
        return [c for c in collected if not isinstance(c, IPyNbFile)]  # expected outputs, not notebooks
    return [
        WorkbenchNotebook.from_parent(parent, path=file_path) if type(c) is IPyNbFile else c
        for c in collected
    ]


if IPyNbFile is not None:

    class WorkbenchCell(IPyNbCell):
        """A notebook cell; checked cells compare with the reference notebook, or record for a refresh."""

        stale_reference: str | None = None

        def runtest(self) -> None:
            refresh = self.config.option.refresh_notebook_references
            if refresh:
                self.options["check"] = False
            super().runtest()  # a stale cell runs too: the cells after it need what it defines
            if refresh and _is_checked(self.cell):
                self.parent.refreshed[self.cell_num] = self.sanitize_outputs(self.test_outputs)
            elif self.stale_reference:
                raise NbCellError(self.cell_num, self.stale_reference, self.cell.source)

    class InjectedParameters(WorkbenchCell):
        """The cell papermill would inject: the tiny parameters, filled in when the notebook starts."""

        def runtest(self) -> None:
            self.cell.source = self.parent.parameters_source
            super().runtest()

        def reportinfo(self) -> tuple[Any, int, str]:
            path, line, description = super().reportinfo()
            return path, line, f"{description} (injected parameters)"

    class WorkbenchNotebook(IPyNbFile):
        """A notebook of ``notebooks/`` run at its tiny parameters against the test Orthanc."""

        def collect(self) -> Any:
            items = [  # nbval's cells (super().collect() reads self.nb), as cells that know the reference
                WorkbenchCell.from_parent(
                    self, name=item.name, cell_num=item.cell_num, cell=item.cell, options=item.options
                )
                for item in super().collect()
            ]
            self.refreshed: dict[int, list[Any]] = {}
            self.parameters_source = ""
            reference = self._reference()
            code = [cell for cell in self.nb.cells if cell.cell_type == "code"]
            for item, cell in zip(items, code, strict=True):
                if _is_checked(cell):
                    self._expect(item, cell, reference)
            tagged = [i for i, cell in enumerate(code) if "parameters" in cell.metadata.get("tags", [])]
            if tagged:
                (number,) = tagged
                injected = nbformat.v4.new_code_cell(source="", metadata={"tags": ["injected-parameters"]})
                item = InjectedParameters.from_parent(
                    self,
                    name=f"Cell {number} (injected parameters)",
                    cell_num=number,
                    cell=injected,
                    options=defaultdict(bool, check=False),
                )
                items.insert(number + 1, item)
            return items

        @property
        def references(self) -> Path:
            return Path(self.config.option.notebook_references)

        def _reference(self) -> Any:
            path = self.references / self.path.name
            return nbformat.read(path, as_version=4) if path.exists() else None

        def _expect(self, item: WorkbenchCell, cell: Any, reference: Any) -> None:
            """Give a checked cell the outputs the reference notebook expects of it."""
            where = self.references / self.path.name
            where = where.relative_to(ROOT) if ROOT in where.parents else where
            expected = None
            if reference is not None:
                ref_code = [c for c in reference.cells if c.cell_type == "code"]
                if item.cell_num < len(ref_code) and ref_code[item.cell_num].source == cell.source:
                    expected = ref_code[item.cell_num]
            if expected is None or not expected.get("outputs"):
                item.stale_reference = (
                    f"{where} has no expected output for this checked cell (new or changed since the "
                    f"reference was written): run `{REFRESH_COMMAND}` and review the diff"
                )
                return
            cell.outputs = expected.outputs
            cell.execution_count = expected.execution_count or 1

        def setup(self) -> None:
            name = self.path.stem
            self._stack = contextlib.ExitStack()
            workdir = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix=f"nbval-{name}-")))
            env = dict(isolated_environment(workdir))
            demo = None
            if name in NEEDS_ARCHIVE:
                demo = session_demo_hospital(self.config, "notebooks")
                env.update(orthanc_environment(session_orthanc(self.config, "notebooks")))
            from papermill.translators import translate_parameters

            parameters = tiny_parameters(name, workdir, demo)
            self.parameters_source = translate_parameters("workbench", "python", parameters, "Parameters")
            kernel_name = self.nb.metadata.get("kernelspec", {}).get("name", "python")
            if self.config.option.nbval_kernel_name:
                kernel_name = self.config.option.nbval_kernel_name
            elif self.config.option.nbval_current_env:
                kernel_name = CURRENT_ENV_KERNEL_NAME
            # the kernel inherits os.environ when it starts: set the test's environment for that moment only
            with mock.patch.dict(os.environ):
                for key, value in env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
                startup = self.config.option.nbval_kernel_startup_timeout
                self.kernel = RunningKernel(kernel_name, cwd=str(NOTEBOOKS), startup_timeout=startup)
            self.setup_sanitize_files()

        def teardown(self) -> None:
            try:
                super().teardown()
                if self.config.option.refresh_notebook_references:
                    self._write_reference()
            finally:
                self._stack.close()

        def _write_reference(self) -> None:
            """The notebook with the outputs of its checked cells only (others empty), for review in git."""
            from workbench.files import atomic_write

            reference = nbformat.read(str(self.fspath), as_version=4)
            code = [cell for cell in reference.cells if cell.cell_type == "code"]
            for number, cell in enumerate(code):
                outputs = self.refreshed.get(number)
                for output in outputs or []:  # nbval does not compare images: keep the references small
                    for kind in [k for k in output.get("data", {}) if k.startswith("image/")]:
                        del output["data"][kind]
                cell.outputs = outputs or []
                cell.execution_count = number + 1 if outputs is not None else None
            self.references.mkdir(exist_ok=True)
            text = nbformat.writes(reference) + "\n"
            path = self.references / self.path.name
            if path.exists() and path.read_text(encoding="utf-8") == text:
                return
            atomic_write(path, text.encode("utf-8"), mode=0o644)  # committed to git, read by everyone
