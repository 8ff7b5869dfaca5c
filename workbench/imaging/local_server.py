"""A managed local Orthanc: Debian's binary run as a plain background process with a generated config.

``workbench orthanc start|stop|status`` and the :class:`LocalOrthanc` context manager (used by the tests with
a temporary folder and free ports) are the same code. The server always has authentication on with a
generated password (kept in a 0600 file), UTF-8 as default encoding (without it Orthanc's DICOMweb JSON drops
every non-Latin-1 character), the DICOMweb and GDCM plugins (plus the whole-slide-image plugin of Debian's
``orthanc-wsi`` when installed: its tile route and slide viewer), and the DICOM listener off unless a DICOM
port is asked for. When it is on, only the registered modalities (:class:`Modality`) may store: the called AET
and the calling host are checked and an unknown AET's C-STORE is refused. Orthanc 1.10.1 still binds 0.0.0.0
(no bind-address option): keep the listener off unless needed, or block the port with a firewall rule.

The config, storage and index are private: folders 0700, files 0600 (Orthanc runs with umask 077).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench import config
from workbench.errors import ConfigError, ServerError, WorkbenchError
from workbench.files import atomic_write, make_folder
from workbench.imaging.rest import OrthancClient

logger = logging.getLogger(__name__)

PLUGIN_DIR = Path("/usr/share/orthanc/plugins")
PLUGINS = {"dicomweb": "libOrthancDicomWeb.so", "gdcm": "libOrthancGdcm.so"}
OPTIONAL_PLUGINS = {"wsi": "libOrthancWSI.so", "webviewer": "libOrthancWebViewer.so"}
"""Loaded when installed; the server works without them. ``orthanc-wsi``: whole-slide tiles and viewer;
``orthanc-webviewer``: the viewer the study browser links to."""
POSTGRES_PLUGIN = "libOrthancPostgreSQLIndex.so"
INSTALL_HINT = (
    "install it with 'sudo apt-get install -y orthanc orthanc-dicomweb orthanc-gdcm' (or 'make demo'), "
    "or use a remote server: set WORKBENCH_ORTHANC_URL, WORKBENCH_ORTHANC_USER and WORKBENCH_ORTHANC_PASSWORD"
)
STATE_FILE = "server.json"
_AET = re.compile(r"[\x21-\x5b\x5d-\x7e][\x20-\x5b\x5d-\x7e]{0,15}")
"""A DICOM application entity title: 1-16 printable ASCII characters without backslash, no leading space."""


@dataclass(frozen=True)
class Modality:
    """A DICOM peer allowed to send (C-STORE) to the local Orthanc.

    Attributes
    ----------
    name : str
        The name Orthanc knows it by (``DicomModalities`` key).
    aet : str
        Its application entity title (the calling AET it must present).
    host : str
        The host it connects from (checked: ``DicomCheckModalityHost``).
    port : int
        Its own DICOM port (for C-MOVE/C-ECHO back to it).
    """

    name: str
    aet: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Modality:
        """Read ``NAME=AET@HOST:PORT`` (the form of ``--modality``).

        Raises
        ------
        ConfigError
            If ``text`` is not of that form, the AET is not 1-16 printable ASCII characters, or the port
            is not 1-65535.
        """
        form = f"modality {text!r} is not of the form NAME=AET@HOST:PORT (e.g. CT1=CTSCANNER@10.0.0.5:104)"
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)=([^@]+)@([^:@\s]+):(\d+)", text.strip())
        if match is None:
            raise ConfigError(form)
        name, aet, host, port = match.group(1), match.group(2), match.group(3), int(match.group(4))
        if not _AET.fullmatch(aet):
            raise ConfigError(f"{form}: AET {aet!r} must be 1-16 printable ASCII characters without '\\'")
        if not 0 < port < 65536:
            raise ConfigError(f"{form}: port {port} is not between 1 and 65535")
        return cls(name, aet, host, port)

    def __str__(self) -> str:
        return f"{self.name}={self.aet}@{self.host}:{self.port}"


def find_binary() -> Path:
    """Locate Orthanc: ``$WORKBENCH_ORTHANC_BINARY``, ``Orthanc`` on PATH, or ``/usr/sbin/Orthanc``.

    Raises
    ------
    ServerError
        With the install command, when there is none.
    """
    override = config.env_value(config.EnvVar.ORTHANC_BINARY)
    if override:
        if Path(override).is_file() and os.access(override, os.X_OK):
            return Path(override)
        raise ServerError(
            f"WORKBENCH_ORTHANC_BINARY={override} is not an executable file; "
            f"fix or unset it, or {INSTALL_HINT}"
        )
    for candidate in (shutil.which("Orthanc"), "/usr/sbin/Orthanc"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ServerError(f"the Orthanc binary is not installed; {INSTALL_HINT}")


def free_port() -> int:
    """Return a TCP port free on all interfaces (Orthanc 1.10 binds 0.0.0.0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Tell whether something already listens on ``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


@dataclass(frozen=True)
class ServerState:
    """What a running managed server is: written to ``server.json`` in its data folder."""

    pid: int
    url: str
    http_port: int
    dicom_port: int | None
    username: str
    password_file: str
    data_dir: str
    config_file: str
    log_file: str
    started_at: float


class LocalOrthanc:
    """Debian's Orthanc as a managed background process.

    Parameters
    ----------
    data_dir : path, optional
        Folder for storage, index, generated config, log and state. Default: ``<data folder>/orthanc``.
    http_port : int, optional
        REST/DICOMweb port; a free one when omitted. A port already in use is an error naming it.
    dicom_port : int, optional
        DICOM (C-STORE/C-FIND ...) port; the DICOM listener stays off when omitted.
    username : str
        The one registered user.
    password_file : path, optional
        0600 file holding the generated password. Default: ``orthanc-password`` in ``data_dir``.
    postgres : dict, optional
        PostgreSQL index settings (``Host``, ``Port``, ``Database``, ``Username``, ``Password``); the
        default is Orthanc's SQLite index in ``data_dir``.
    aet : str
        The server's DICOM application entity title.
    modalities : sequence of Modality
        The DICOM peers allowed to store; with none, the listener (if on) accepts no C-STORE at all.
    optional_plugins : tuple of str
        Keys of :data:`OPTIONAL_PLUGINS` to load when installed (``()``: none, e.g. to test without them).
    extra_config : dict, optional
        More Orthanc settings, e.g. ``{"LimitFindResults": 100}`` (tests of capped servers).

    Examples
    --------
    >>> with LocalOrthanc(data_dir=tmp_path) as server:          # doctest: +SKIP
    ...     archive = workbench.imaging.connect(server.url, server.username, server.password)
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        http_port: int | None = None,
        dicom_port: int | None = None,
        username: str = "workbench",
        password_file: str | Path | None = None,
        postgres: dict[str, Any] | None = None,
        aet: str = "ORTHANC",
        modalities: Sequence[Modality] = (),
        optional_plugins: tuple[str, ...] = tuple(OPTIONAL_PLUGINS),
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir else config.data_dir() / "orthanc"
        self.http_port = http_port
        self.dicom_port = dicom_port
        self.username = username
        self.password_file = Path(password_file) if password_file else self.data_dir / "orthanc-password"
        self.postgres = postgres
        self.aet = aet
        self.modalities = tuple(modalities)
        self.optional_plugins = optional_plugins
        self.extra_config = dict(extra_config or {})
        self._process: subprocess.Popen[bytes] | None = None
        self._state: ServerState | None = None

    # -- paths ---------------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        """``server.json``: PID, ports and URL of the running server."""
        return self.data_dir / STATE_FILE

    @property
    def config_file(self) -> Path:
        """The generated Orthanc configuration."""
        return self.data_dir / "orthanc.json"

    @property
    def log_file(self) -> Path:
        """Orthanc's standard output and error."""
        return self.data_dir / "orthanc.log"

    # -- state ---------------------------------------------------------------------------------------
    @property
    def state(self) -> ServerState:
        """The running server's state.

        Raises
        ------
        ServerError
            When it is not running.
        """
        state = self._state or self.read_state()
        if state is None:
            raise ServerError(
                f"no Orthanc is running from {self.data_dir}; start it with 'workbench orthanc start'"
            )
        return state

    @property
    def url(self) -> str:
        """Base URL of the REST API."""
        return self.state.url

    @property
    def password(self) -> str:
        """The generated password (read from its 0600 file)."""
        return config.read_secret(self.password_file)

    def client(self, **kwargs: Any) -> OrthancClient:
        """An authenticated :class:`~workbench.imaging.rest.OrthancClient` for this server."""
        return OrthancClient(self.url, self.username, self.password, **kwargs)

    def read_state(self) -> ServerState | None:
        """Read ``server.json``; a stale one (process gone, or another program under that PID) is removed."""
        try:
            state = ServerState(**json.loads(self.state_file.read_text(encoding="utf-8")))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (ValueError, TypeError):
            logger.warning("removing unreadable state file %s", self.state_file)
            self.state_file.unlink(missing_ok=True)
            return None
        if not _is_our_orthanc(state.pid, state.config_file):
            logger.warning("removing stale state of Orthanc PID %d (no longer running)", state.pid)
            self.state_file.unlink(missing_ok=True)
            return None
        return state

    def is_running(self) -> bool:
        """Tell whether this data folder's server is running."""
        return self.read_state() is not None

    def status(self) -> dict[str, Any]:
        """Describe the server: running or not, URL, PID, ports, Orthanc version and study count."""
        state = self.read_state()
        if state is None:
            return {"running": False, "data_dir": str(self.data_dir)}
        info: dict[str, Any] = {"running": True, **asdict(state)}
        try:
            client = OrthancClient(
                state.url, state.username, config.read_secret(state.password_file), retries=0
            )
            system = client.system()
            stats = client.get_json("/statistics")
            info.update(version=system.get("Version"), studies=stats.get("CountStudies"))
        except WorkbenchError as exc:
            info["error"] = str(exc)
        return info

    # -- start / stop --------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> LocalOrthanc:
        """Start the server and wait until its REST API answers an authenticated request.

        Returns ``self``. Starting a server that already runs from this data folder returns at once.

        Raises
        ------
        ServerError
            Orthanc is not installed, the port is taken, or the process died while starting
            (the message carries the end of its log).
        """
        existing = self.read_state()
        if existing is not None:
            logger.info("Orthanc already running at %s (PID %d)", existing.url, existing.pid)
            self._state = existing
            return self
        binary = find_binary()
        plugins = self._plugins()
        http_port = self._port(self.http_port, "HTTP", "--http-port")  # checked before anything is written
        dicom_port = (
            self._port(self.dicom_port, "DICOM", "--dicom-port") if self.dicom_port is not None else None
        )
        for folder in (self.data_dir, self.data_dir / "storage", self.data_dir / "index"):
            make_folder(folder, private=True)  # patient data: private from the start
        if not self.password_file.exists():
            config.write_secret(self.password_file, secrets.token_urlsafe(18))
        url = f"http://127.0.0.1:{http_port}"
        atomic_write(  # it holds the password: 0600 before the first byte
            self.config_file,
            json.dumps(self._orthanc_config(http_port, dicom_port, plugins), indent=2).encode("utf-8"),
            mode=0o600,
        )
        log_fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        log = os.fdopen(log_fd, "ab")
        try:
            process = subprocess.Popen(
                [str(binary), str(self.config_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.data_dir,
                start_new_session=True,
                umask=0o077,  # Orthanc's storage files and SQLite index: 0600
            )
        finally:
            log.close()
        self._process = process
        state = ServerState(
            pid=process.pid,
            url=url,
            http_port=http_port,
            dicom_port=dicom_port,
            username=self.username,
            password_file=str(self.password_file),
            data_dir=str(self.data_dir),
            config_file=str(self.config_file),
            log_file=str(self.log_file),
            started_at=time.time(),
        )
        self._wait_ready(state, timeout)
        atomic_write(self.state_file, json.dumps(asdict(state), indent=2).encode("utf-8"), mode=0o600)
        self._state = state
        logger.info("Orthanc started at %s (PID %d)", url, process.pid)
        return self

    def stop(self, timeout: float = 20.0) -> bool:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``) and wait until the process is gone.

        Returns
        -------
        bool
            ``True`` if a server was stopped, ``False`` if none was running.
        """
        state = self._state or self.read_state()
        self._state = None
        if state is None:
            return False
        _terminate(state.pid, timeout, self._process)
        self._process = None
        self.state_file.unlink(missing_ok=True)
        logger.info("Orthanc PID %d stopped", state.pid)
        return True

    def __enter__(self) -> LocalOrthanc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers -------------------------------------------------------------------------------------
    def _plugins(self) -> list[str]:
        names = dict(PLUGINS)
        if self.postgres is not None:
            names["postgresql"] = POSTGRES_PLUGIN
        paths = []
        for name, so in names.items():
            path = PLUGIN_DIR / so
            if not path.exists():
                package = {"dicomweb": "orthanc-dicomweb", "gdcm": "orthanc-gdcm"}.get(
                    name, "orthanc-postgresql"
                )
                raise ServerError(
                    f"the Orthanc {name} plugin ({path}) is missing; install it with "
                    f"'sudo apt-get install -y {package}'"
                )
            paths.append(str(path))
        for name in self.optional_plugins:
            path = PLUGIN_DIR / OPTIONAL_PLUGINS[name]
            if path.exists():
                paths.append(str(path))
            else:
                logger.info("optional Orthanc %s plugin %s is not installed; starting without it", name, path)
        return paths

    def _port(self, port: int | None, kind: str, option: str) -> int:
        if port is None:
            return free_port()
        if not 0 < port < 65536:
            raise ServerError(f"{option} {port} is not a TCP port; choose one between 1 and 65535")
        if port_in_use(port):
            raise ServerError(
                f"{kind} port {port} is already in use; choose another with {option}, "
                "or leave it out to pick a free one"
            )
        return port

    def _orthanc_config(self, http_port: int, dicom_port: int | None, plugins: list[str]) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "Name": "workbench",
            "StorageDirectory": str(self.data_dir / "storage"),
            "IndexDirectory": str(self.data_dir / "index"),
            "HttpPort": http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.username: config.read_secret(self.password_file)},
            "DefaultEncoding": "Utf8",
            "HttpCompressionEnabled": False,
            "DicomServerEnabled": dicom_port is not None,
            "DicomAet": self.aet,
            "DicomPort": dicom_port or 4242,
            # closed by default: only registered modalities, presenting their AET from their host, may store
            "DicomCheckCalledAet": True,
            "DicomAlwaysAllowStore": False,
            "DicomCheckModalityHost": True,
            "DicomModalities": {m.name: [m.aet, m.host, m.port] for m in self.modalities},
            "Plugins": plugins,
            "DicomWeb": {
                "Enable": True,
                "Root": "/dicom-web/",
                "Host": f"127.0.0.1:{http_port}",
                "Ssl": False,
            },
        }
        if self.postgres is not None:
            cfg["PostgreSQL"] = {"EnableIndex": True, "EnableStorage": False, "Lock": False, **self.postgres}
        cfg.update(self.extra_config)
        return cfg

    def _wait_ready(self, state: ServerState, timeout: float) -> None:
        client = OrthancClient(
            state.url, self.username, config.read_secret(self.password_file), timeout=(1.0, 5.0), retries=0
        )
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self._process is not None and self._process.poll() is not None:
                    raise ServerError(
                        f"Orthanc exited with code {self._process.returncode} while starting; "
                        f"end of {self.log_file}:\n{_tail(self.log_file)}"
                    )
                try:
                    client.system()
                    return
                except WorkbenchError:
                    if time.monotonic() > deadline:
                        _terminate(state.pid, 10.0, self._process)
                        raise ServerError(
                            f"Orthanc did not answer on {state.url} within {timeout:.0f} s; "
                            f"end of {self.log_file}:\n{_tail(self.log_file)}"
                        ) from None
                    time.sleep(0.1)
        finally:
            client.close()


def _is_our_orthanc(pid: int, config_file: str) -> bool:
    """True if ``pid`` is alive (not a zombie) and is Orthanc started with ``config_file``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if status.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return any(arg.endswith(b"Orthanc") for arg in cmdline[:1]) and config_file.encode() in cmdline


def _terminate(pid: int, timeout: float, process: subprocess.Popen[bytes] | None) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None:
            if process.poll() is not None:
                return
        elif not _alive(pid):
            return
        time.sleep(0.05)
    logger.warning("Orthanc PID %d ignored SIGTERM for %.0f s; killing it", pid, timeout)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if process is not None:
        process.wait(5)
    else:
        while _alive(pid) and time.monotonic() < deadline + 5:
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def postgres_settings(dsn: str) -> dict[str, Any]:
    """Turn ``postgresql://user:password@host:port/database`` into Orthanc's ``PostgreSQL`` settings.

    Raises
    ------
    ServerError
        If ``dsn`` is not such a URL.
    """
    from urllib.parse import unquote, urlparse

    from workbench.urls import hide_password

    try:
        parsed = urlparse(dsn)
        port = parsed.port
    except ValueError:
        parsed, port = None, None
    if (
        parsed is None
        or parsed.scheme not in ("postgresql", "postgres")
        or not parsed.hostname
        or not parsed.path.strip("/")
    ):
        raise ServerError(
            f"--postgres {hide_password(dsn)!r} is not of the form postgresql://user:password@host:port/database"
        )
    return {
        "Host": parsed.hostname,
        "Port": port or 5432,
        "Database": parsed.path.strip("/"),
        "Username": unquote(parsed.username or ""),
        "Password": unquote(parsed.password or ""),
    }
