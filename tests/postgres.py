"""A throwaway PostgreSQL cluster for tests: Debian's initdb/pg_ctl in a temporary folder, on a free
loopback port.

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the ``postgres`` user
(Debian's package creates it); otherwise as the current user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from workbench.imaging.local_server import free_port


def pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb``, or None."""
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.glob("*/bin/initdb")), key=lambda p: int(p.parts[-3]), reverse=True)
    return versions[0].parent if versions else None


class ThrowawayPostgres:
    """``initdb`` + ``pg_ctl start`` in a new temporary folder; ``stop()`` ends it and removes the folder.

    The folder is made with :func:`tempfile.mkdtemp` rather than pytest's ``tmp_path``: pytest's folders are
    private to the user running the tests, and the ``postgres`` user must be able to enter this one.
    ``dsn`` names the database ``orthanc``.
    """

    def __init__(self) -> None:
        self.bin = pg_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found; apt-get install postgresql")
        self.folder = Path(tempfile.mkdtemp(prefix="workbench-postgres-"))
        self.port = free_port()
        self.data = self.folder / "data"
        self._user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def dsn(self) -> str:
        """``postgresql://postgres@127.0.0.1:<port>/orthanc``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/orthanc"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._user, *args], capture_output=True, text=True, cwd=self.folder)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")

    def start(self) -> ThrowawayPostgres:
        if self._user:
            shutil.chown(self.folder, "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "log"),
            "-w",
            "start",
        )
        self._run(
            str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "orthanc"
        )
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
