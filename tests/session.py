"""The suite's session-wide resources, shared by pytest fixtures and the nbval notebook harness.

nbval's notebook cells are pytest items but not test functions, so they cannot request fixtures. Both the
``orthanc``/``demo_hospital`` fixtures of ``tests/conftest.py`` and ``tests/notebooks/nbval_plugin.py`` take
the server from here: one real Orthanc per session (started on first use, stopped when the session
ends), the demo hospital loaded into it once, and the environment a test runs in (its own folders, no
cloud credentials).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from workbench.imaging.local_server import LocalOrthanc

DEMO_COHORT_SIZE = 8
"""Screening-cohort patients loaded for tests (the demo default is larger)."""
DCMTK_AET = "WBTEST-DCMTK"
"""The calling AET of the dcmtk tests: the session's Orthanc accepts C-STORE from it (on 127.0.0.1) only."""
ORTHANC_INDEX = os.environ.get("WORKBENCH_TEST_ORTHANC_INDEX", "sqlite")
"""Orthanc's index for this test session: ``sqlite`` (Orthanc's default) or ``postgresql`` (a throwaway
cluster, as the seed's RDS deployment); ``make test`` runs the imaging tests once more with ``postgresql``."""

_ORTHANCS = pytest.StashKey[dict[str, LocalOrthanc]]()
_DEMOS = pytest.StashKey[dict[str, Any]]()


def isolated_environment(folder: Path) -> dict[str, str | None]:
    """The environment of one test: its own config, data and cache folders under ``folder``; no Orthanc
    settings, no AWS credentials or profile (``None``: unset)."""
    env: dict[str, str | None] = {
        f"WORKBENCH_{name}_DIR": str(folder / f"wb-{name.lower()}") for name in ("CONFIG", "DATA", "CACHE")
    }
    for name in ("URL", "USER", "PASSWORD"):
        env[f"WORKBENCH_ORTHANC_{name}"] = None
    env["WORKBENCH_IMAGE_CACHE_MAX_GB"] = None
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env[name] = None
    env["AWS_CONFIG_FILE"] = str(folder / "no-aws-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(folder / "no-aws-credentials")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def orthanc_environment(server: LocalOrthanc) -> dict[str, str | None]:
    """``WORKBENCH_ORTHANC_*`` so that ``connect()`` with no arguments reaches ``server``."""
    return {
        "WORKBENCH_ORTHANC_URL": server.url,
        "WORKBENCH_ORTHANC_USER": server.username,
        "WORKBENCH_ORTHANC_PASSWORD": server.password,
    }


def session_orthanc(config: pytest.Config, purpose: str = "tests") -> LocalOrthanc:
    """The session's Orthanc (DICOM listener on, for dcmtk tests): started on first use, stopped at the
    end of the session.

    ``purpose`` names the instance: ``"tests"`` is the one the fixtures share (tests upload their own studies
    into it); ``"notebooks"`` is the nbval harness's own, holding the demo hospital and what the notebooks
    write, so that the notebooks' checked outputs do not depend on which tests ran before them.
    """
    servers = config.stash.setdefault(_ORTHANCS, {})
    if purpose in servers:
        return servers[purpose]
    from workbench.imaging.local_server import Modality, free_port, postgres_settings

    stack = contextlib.ExitStack()
    try:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"wb-{purpose}-orthanc-")))
        postgres = None
        if ORTHANC_INDEX == "postgresql":
            from tests.postgres import ThrowawayPostgres

            cluster = stack.enter_context(ThrowawayPostgres())
            postgres = postgres_settings(cluster.dsn)
        elif ORTHANC_INDEX != "sqlite":
            raise ValueError(f"WORKBENCH_TEST_ORTHANC_INDEX={ORTHANC_INDEX!r}: expected sqlite or postgresql")
        server = LocalOrthanc(
            folder,
            dicom_port=free_port(),
            postgres=postgres,
            modalities=[Modality("dcmtk", DCMTK_AET, "127.0.0.1", free_port())],
        )
        stack.enter_context(server)
    except BaseException:
        stack.close()
        raise
    config.add_cleanup(stack.close)
    servers[purpose] = server
    return server


def session_demo_hospital(config: pytest.Config, purpose: str = "tests") -> Any:
    """The synthetic demo hospital, loaded once into the session's Orthanc ``purpose`` (small screening
    cohort)."""
    demos = config.stash.setdefault(_DEMOS, {})
    if purpose not in demos:
        from workbench.imaging.demo import load
        from workbench.imaging.orthanc import OrthancArchive

        server = session_orthanc(config, purpose)
        demos[purpose] = load(
            OrthancArchive(server.client(), cache=False), cohort_size=DEMO_COHORT_SIZE, progress=False
        )
    return demos[purpose]
