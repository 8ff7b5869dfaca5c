"""Fixtures shared by the whole suite.

Every test runs with its own config, data and cache folders (nothing touches the user's home). Tests that
need a DICOM server use ``orthanc``: one real Orthanc per test session, started by
:class:`workbench.imaging.local_server.LocalOrthanc` in a temporary folder on free ports. ``demo_hospital``
loads the synthetic demo hospital into it once. ``run_notebook`` executes a notebook with papermill and the
``workbench`` kernel, pointed at that server through the environment.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from workbench.imaging.local_server import LocalOrthanc

ROOT = Path(__file__).resolve().parents[1]
DEMO_COHORT_SIZE = 8
DCMTK_AET = "WBTEST-DCMTK"
"""The calling AET of the dcmtk tests: the session's Orthanc accepts C-STORE from it (on 127.0.0.1) only."""
"""Screening-cohort patients loaded for tests (the demo default is larger)."""


@pytest.fixture(autouse=True)
def isolated_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the config, data and cache folders at the test's own temporary folder."""
    for name in ("CONFIG", "DATA", "CACHE"):
        monkeypatch.setenv(f"WORKBENCH_{name}_DIR", str(tmp_path / f"wb-{name.lower()}"))
    for name in ("URL", "USER", "PASSWORD"):
        monkeypatch.delenv(f"WORKBENCH_ORTHANC_{name}", raising=False)
    monkeypatch.delenv("WORKBENCH_IMAGE_CACHE_MAX_GB", raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


ORTHANC_INDEX = os.environ.get("WORKBENCH_TEST_ORTHANC_INDEX", "sqlite")
"""Orthanc's index for this test session: ``sqlite`` (Orthanc's default) or ``postgresql`` (a throwaway
cluster, as the seed's RDS deployment); ``make test`` runs the imaging tests once more with ``postgresql``."""


@pytest.fixture(autouse=True)
def isolated_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give each test its own model-backend registry: backends a test registers or creates do not leak."""
    from workbench.summary.backends import base

    monkeypatch.setattr(base, "_FACTORIES", dict(base._FACTORIES))
    monkeypatch.setattr(base, "_INSTANCES", {})


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalOrthanc]:
    """A real Orthanc for the whole session (DICOM listener on, for dcmtk tests)."""
    from workbench.imaging.local_server import Modality, free_port, postgres_settings

    with contextlib.ExitStack() as stack:
        postgres = None
        if ORTHANC_INDEX == "postgresql":
            from tests.postgres import ThrowawayPostgres

            cluster = stack.enter_context(ThrowawayPostgres())
            postgres = postgres_settings(cluster.dsn)
        elif ORTHANC_INDEX != "sqlite":
            raise ValueError(f"WORKBENCH_TEST_ORTHANC_INDEX={ORTHANC_INDEX!r}: expected sqlite or postgresql")
        server = LocalOrthanc(
            tmp_path_factory.mktemp("orthanc"),
            dicom_port=free_port(),
            postgres=postgres,
            modalities=[Modality("dcmtk", DCMTK_AET, "127.0.0.1", free_port())],
        )
        yield stack.enter_context(server)


@pytest.fixture
def orthanc_env(orthanc: LocalOrthanc, monkeypatch: pytest.MonkeyPatch) -> LocalOrthanc:
    """Set ``WORKBENCH_ORTHANC_*`` so that ``connect()`` with no arguments reaches the test server."""
    monkeypatch.setenv("WORKBENCH_ORTHANC_URL", orthanc.url)
    monkeypatch.setenv("WORKBENCH_ORTHANC_USER", orthanc.username)
    monkeypatch.setenv("WORKBENCH_ORTHANC_PASSWORD", orthanc.password)
    return orthanc


@pytest.fixture(scope="session")
def demo_hospital(orthanc: LocalOrthanc) -> Any:
    """The synthetic demo hospital, loaded once into the session's Orthanc (small screening cohort)."""
    from workbench.imaging.demo import load
    from workbench.imaging.orthanc import OrthancArchive

    return load(OrthancArchive(orthanc.client(), cache=False), cohort_size=DEMO_COHORT_SIZE, progress=False)


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
