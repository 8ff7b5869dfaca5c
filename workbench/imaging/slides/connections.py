"""Kept-alive HTTP connections for many small GETs: Orthanc's one-frame route, one request per tile.

A 2048-pixel region of a slide is 81 tiles, so 81 requests; Orthanc answers each from its parsed-DICOM cache
in well under a millisecond, so the client's own cost per request decides the time. Measured on loopback
(Orthanc 1.10.1, 81 JPEG frames of a parsed 57 MB instance, one connection): ``requests`` 37 ms, urllib3
11.5 ms, the standard library's ``http.client`` 6.6 ms (and threads only add GIL contention there: 4
connections in 4 threads 50, 20 and 12 ms). So frames go through ``http.client`` here: one connection per
stream of requests, taken from a small pool and kept alive between regions.

What ``requests`` would otherwise do for us is kept: basic auth from the archive's session, the session's
TLS verification (``verify``: a CA bundle, ``False``, or ``True`` with ``REQUESTS_CA_BUNDLE`` /
``CURL_CA_BUNDLE`` / certifi as ``requests`` picks it), the (connect, read) timeouts, and one retry when a
kept-alive connection turns out closed (Orthanc closes idle ones after about a second). A session that
would send through a proxy (``proxies`` or the ``*_PROXY`` variables) is not handled here:
:func:`direct_connections` returns ``None`` and the caller uses the session.
"""

from __future__ import annotations

import base64
import http.client
import os
import select
import socket
import ssl
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from workbench.errors import ArchiveError

STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.BadStatusLine)
"""What a kept-alive connection the server has closed raises on its next request."""


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, read whole."""

    status: int
    reason: str
    content_type: str
    body: bytes


class Connection:
    """One kept-alive connection (see :meth:`Connections.connection`)."""

    def __init__(self, owner: Connections) -> None:
        self._owner = owner
        self._conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> Answer:
        """GET ``path`` (below the base URL) and read the answer.

        Raises
        ------
        OSError
            The server cannot be reached or timed out (``TimeoutError``, ``ConnectionRefusedError`` ...).
        http.client.HTTPException
            The server sent something that is not HTTP.
        """
        for attempt in (0, 1):
            reused = self._conn is not None
            conn = self._conn if self._conn is not None else self._owner._open()
            self._conn = None
            try:
                conn.request("GET", self._owner.prefix + path, headers=self._owner.headers)
                response = conn.getresponse()
                body = response.read()
            except STALE:
                conn.close()
                if reused and attempt == 0:  # closed while idle: once more on a new connection
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            if not response.will_close:
                self._conn = conn
            else:
                conn.close()
            return Answer(response.status, response.reason, response.getheader("Content-Type", ""), body)
        raise AssertionError("unreachable")  # pragma: no cover

    def _release(self) -> None:
        if self._conn is not None:
            self._owner._put(self._conn)
            self._conn = None


class Connections:
    """A pool of kept-alive ``http.client`` connections to one server.

    Parameters
    ----------
    url
        The server's base URL (``http://host:port/prefix`` or ``https://...``).
    session
        The ``requests`` session whose credentials and TLS verification are used.
    timeout
        ``(connect, read)`` timeouts in seconds.
    keep
        Idle connections kept open.
    """

    def __init__(
        self, url: str, session: requests.Session, timeout: tuple[float, float], keep: int = 8
    ) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.keep = keep
        self.headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
        auth = session.auth
        if isinstance(auth, tuple) and len(auth) == 2:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            self.headers["Authorization"] = f"Basic {token}"
        self._context = _tls_context(session.verify) if self.scheme == "https" else None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        _ALL.add(self)
        # the idle sockets are closed when the pool is collected or the interpreter exits (no ResourceWarning)
        weakref.finalize(self, _close_each, self._idle)

    def __repr__(self) -> str:
        return f"Connections({self.scheme}://{self.host}:{self.port}{self.prefix})"

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """One connection for a stream of requests, back to the pool afterwards."""
        taken = Connection(self)
        taken._conn = self._take()
        try:
            yield taken
        finally:
            taken._release()

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle = list(self._idle)
            self._idle.clear()
        _close_each(idle)

    def _take(self) -> http.client.HTTPConnection | None:
        while True:
            with self._lock:
                if not self._idle:
                    return None
                conn = self._idle.pop()
            if not _closed_by_server(conn):
                return conn
            conn.close()

    def _put(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(conn)
                return
        conn.close()

    def _open(self) -> http.client.HTTPConnection:
        connect, read = self.timeout
        conn: http.client.HTTPConnection
        if self._context is not None:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=connect, context=self._context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=connect)
        conn.connect()
        assert conn.sock is not None
        conn.sock.settimeout(read)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn


_ALL: weakref.WeakSet[Connections] = weakref.WeakSet()


def _forget_after_fork() -> None:
    """In a forked child (a DataLoader worker) the parent's idle connections are the parent's: this process
    must not read their answers. Its copies are closed (the parent's stay open) and new ones are made."""
    for pool in list(_ALL):
        pool._lock = threading.Lock()
        idle = list(pool._idle)
        pool._idle.clear()
        _close_each(idle)


def _close_each(connections: list[http.client.HTTPConnection]) -> None:
    for conn in list(connections):
        conn.close()
    connections.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def direct_connections(
    url: str, session: requests.Session, timeout: tuple[float, float]
) -> Connections | None:
    """:class:`Connections` to ``url`` with ``session``'s credentials, or ``None`` when the session would
    send through a proxy or authenticates other than by user and password (then use the session)."""
    auth = session.auth
    if auth is not None and not (isinstance(auth, tuple) and len(auth) == 2):
        return None
    if session.proxies or (session.trust_env and requests.utils.get_environ_proxies(url)):
        return None
    if urlsplit(url).scheme not in ("http", "https"):
        return None
    return Connections(url, session, timeout)


def _tls_context(verify: Any) -> ssl.SSLContext:
    """TLS as ``requests`` would verify it with ``session.verify``."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if verify is True or verify is None:
        verify = (
            os.environ.get("REQUESTS_CA_BUNDLE")
            or os.environ.get("CURL_CA_BUNDLE")
            or requests.utils.DEFAULT_CA_BUNDLE_PATH
        )
    if os.path.isdir(verify):
        return ssl.create_default_context(capath=verify)
    return ssl.create_default_context(cafile=verify)


def _closed_by_server(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle connection has been closed by the server (its socket reads as ready: EOF)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def failed(url: str, exc: BaseException, what: str, timeout: float) -> ArchiveError:
    """The one-line error for a request that got no answer (worded as
    :class:`~workbench.imaging.rest.OrthancClient`'s)."""
    from workbench.imaging.rest import HINT_UNREACHABLE

    if isinstance(exc, TimeoutError):
        return ArchiveError(
            f"Orthanc at {url} did not answer the request for {what} within {timeout:.0f} s; "
            "the server is overloaded or the timeout is too short (timeout=...)"
        )
    if isinstance(exc, ConnectionRefusedError | socket.gaierror):
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else "unknown host"
        return ArchiveError(f"cannot reach Orthanc at {url} ({reason}); {HINT_UNREACHABLE}")
    return ArchiveError(f"{what} could not be read from Orthanc at {url}: {type(exc).__name__}: {exc}")
