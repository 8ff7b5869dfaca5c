"""The session's Orthanc really uses the index the run asked for (``make test`` runs tests/imaging twice)."""

from __future__ import annotations

from tests.conftest import ORTHANC_INDEX
from workbench.imaging.local_server import LocalOrthanc


def test_orthanc_runs_on_the_requested_index(orthanc: LocalOrthanc) -> None:
    plugins = orthanc.client().get_json("/plugins")
    assert ("postgresql-index" in plugins) == (ORTHANC_INDEX == "postgresql")
    if ORTHANC_INDEX == "postgresql":
        assert not (orthanc.data_dir / "index" / "index").exists()  # no SQLite index file was made
