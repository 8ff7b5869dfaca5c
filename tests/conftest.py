"""Fixtures shared by the whole suite.

Every test runs with its own config, data and cache folders (nothing touches the user's home). Tests that
need a DICOM server use ``orthanc``: one real Orthanc per test session, started by
:class:`workbench.imaging.local_server.LocalOrthanc` in a temporary folder on free ports. ``demo_hospital``
loads the synthetic demo hospital into it once. ``run_notebook`` executes a notebook with papermill and the
``workbench`` kernel, pointed at that server through the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.session import (
    DCMTK_AET,
    DEMO_COHORT_SIZE,
    ORTHANC_INDEX,
    isolated_environment,
    orthanc_environment,
    session_demo_hospital,
    session_orthanc,
)
from workbench.imaging.local_server import LocalOrthanc

__all__ = ["DCMTK_AET", "DEMO_COHORT_SIZE", "ORTHANC_INDEX"]  # imported from here by older tests

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the config, data and cache folders at the test's own temporary folder."""
    _set_environment(monkeypatch, isolated_environment(tmp_path))
    return tmp_path


def _set_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None]) -> None:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


@pytest.fixture(autouse=True)
def isolated_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give each test its own model-backend registry: backends a test registers or creates do not leak."""
    from workbench.summary.backends import base

    monkeypatch.setattr(base, "_FACTORIES", dict(base._FACTORIES))
    monkeypatch.setattr(base, "_INSTANCES", {})


@pytest.fixture(scope="session")
def orthanc(request: pytest.FixtureRequest) -> LocalOrthanc:
    """A real Orthanc for the whole session (DICOM listener on, for dcmtk tests); see :mod:`tests.session`."""
    return session_orthanc(request.config)


@pytest.fixture
def orthanc_env(orthanc: LocalOrthanc, monkeypatch: pytest.MonkeyPatch) -> LocalOrthanc:
    """Set ``WORKBENCH_ORTHANC_*`` so that ``connect()`` with no arguments reaches the test server."""
    _set_environment(monkeypatch, orthanc_environment(orthanc))
    return orthanc


@pytest.fixture(scope="session")
def demo_hospital(request: pytest.FixtureRequest) -> Any:
    """The synthetic demo hospital, loaded once into the session's Orthanc (small screening cohort)."""
    return session_demo_hospital(request.config)


@pytest.fixture
def run_notebook(orthanc_env: LocalOrthanc, tmp_path: Path) -> Callable[..., Path]:
    """Execute ``notebooks/<name>.ipynb`` with papermill and the ``workbench`` kernel.

    Returns a function ``run(name, **parameters) -> Path`` of the executed notebook. The kernel inherits the
    environment, so the notebook reaches the test Orthanc and the test's own folders. Cells run with the
    ``notebooks/`` folder as working directory, as in JupyterLab.
    """
    import papermill

    def run(name: str, **parameters: Any) -> Path:
        output = tmp_path / f"{name}.out.ipynb"
        papermill.execute_notebook(
            str(ROOT / "notebooks" / f"{name}.ipynb"),
            str(output),
            parameters=parameters,
            kernel_name="workbench",
            cwd=str(ROOT / "notebooks"),
            progress_bar=False,
            execution_timeout=600,
        )
        return output

    return run


class _FillingFile:
    """An open file on a disk with ``room`` bytes left: writes past it write what fits, then raise ENOSPC."""

    def __init__(self, file: Any, room: int) -> None:
        self._file, self.room = file, room

    def write(self, data: Any) -> int:
        import errno

        data = bytes(data)
        taken = data[: max(self.room, 0)]
        self._file.write(taken)
        self.room -= len(taken)
        if len(taken) < len(data):
            self._file.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return len(data)

    def __enter__(self) -> _FillingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``full_disk(room)``: from now on, files written by ``workbench.files.atomic_write`` fill the disk after
    ``room`` more bytes (ENOSPC, as a real full disk answers ``write``)."""
    import workbench.files

    real_fdopen = os.fdopen

    def fill(room: int) -> None:
        def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
            return _FillingFile(real_fdopen(fd, *args, **kwargs), room)

        monkeypatch.setattr(workbench.files.os, "fdopen", fdopen)

    return fill
