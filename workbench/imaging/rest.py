"""A small HTTP client for Orthanc's REST API: sessions, timeouts, retries and clear errors.

Every part of the workbench that talks to Orthanc (the archive, the managed local server's health check,
demo-data upload) goes through :class:`OrthancClient`, so that an unreachable server, a wrong password or
an unknown resource always gives the same one-line message.

We use ``requests`` with urllib3's ``Retry`` rather than pyorthanc: pyorthanc wraps every route in its own
object model, which makes the search and retrieval fast paths (one ``/tools/find`` per level, parallel
``/instances/{id}/file``) harder to express and adds nothing to error handling.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from workbench import config
from workbench.errors import ArchiveError, AuthenticationError, ConfigError, NotFoundError
from workbench.urls import split_url

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5.0, 120.0)
"""(connect, read) timeout in seconds for every request."""

DEFAULT_RETRIES = 3
"""Retries on connection errors and on HTTP 502/503/504 (idempotent requests and uploads)."""

HINT_UNREACHABLE = (
    "start the local one with 'workbench orthanc start', or point WORKBENCH_ORTHANC_URL at a running server"
)
HINT_AUTH = (
    "check WORKBENCH_ORTHANC_USER and WORKBENCH_ORTHANC_PASSWORD (or the [orthanc] table of the config file)"
)


LARGE_ANSWER = 1 << 20
"""Bytes of a body after which the next request goes to another connection (:meth:`OrthancClient.request`)."""


class OrthancClient:
    """HTTP access to one Orthanc server.

    Parameters
    ----------
    url : str
        Base URL of the REST API, e.g. ``http://127.0.0.1:8042``.
    username, password : str, optional
        HTTP basic-auth credentials.
    timeout : tuple of float
        ``(connect, read)`` timeouts in seconds.
    retries : int
        How often a failed connection or a 502/503/504 answer is retried, with exponential backoff.
    pool_size : int
        Connections kept open per host; at least the number of threads used for parallel retrieval.
    """

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        pool_size: int = 16,
    ) -> None:
        try:
            self.url, url_user, url_password = split_url(url, what="Orthanc URL")
        except ConfigError as exc:
            raise ArchiveError(f"{exc}; set WORKBENCH_ORTHANC_URL") from None
        if username is None:  # credentials inside the URL are used, never kept in it
            username, password = url_user, url_password if password is None else password
        self.username = username
        self.timeout = timeout
        self.session = make_session(username, password, retries=retries, pool_size=pool_size)
        self._pool = (retries, pool_size)
        self._sessions: list[requests.Session] = [self.session]
        self._turn = 0  # which session sends the next request (see request())

    def __repr__(self) -> str:
        return f"OrthancClient({self.url!r}, username={self.username!r})"

    @classmethod
    def from_settings(cls, **kwargs: Any) -> OrthancClient:
        """A client for the configured server (environment first, then the config file).

        Raises
        ------
        ConfigError
            If no server is configured.
        """
        settings = config.orthanc_settings()
        if not settings.url:
            raise ConfigError(
                "no Orthanc server is configured; run 'workbench orthanc start' for a local one, or set "
                "WORKBENCH_ORTHANC_URL, WORKBENCH_ORTHANC_USER and WORKBENCH_ORTHANC_PASSWORD"
            )
        return cls(settings.url, settings.username, settings.password, **kwargs)

    def close(self) -> None:
        """Close the pooled connections."""
        for session in self._sessions:
            session.close()

    def request(
        self, method: str, path: str, *, what: str | None = None, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        """Send one request and translate failures into workbench errors.

        Parameters
        ----------
        method, path
            HTTP method and path below the base URL (``"/tools/find"``).
        what
            What the path names, for a 404 message ("series 1.2.3"); without it a 404 is an ``ArchiveError``.
        stream
            Return before the body is read.

        Raises
        ------
        ArchiveError
            The server cannot be reached, timed out, or answered with an error.
        AuthenticationError
            HTTP 401/403.
        NotFoundError
            HTTP 404 and ``what`` was given.
        """
        kwargs.setdefault("timeout", self.timeout)
        session = self._sessions[self._turn]
        try:
            response = session.request(method, self.url + path, stream=stream, **kwargs)
        except requests.exceptions.ConnectionError as exc:
            raise ArchiveError(
                f"cannot reach Orthanc at {self.url} ({_reason(exc)}); {HINT_UNREACHABLE}"
            ) from None
        except requests.exceptions.Timeout:
            raise ArchiveError(
                f"Orthanc at {self.url} did not answer {method} {path} within {self.timeout[1]:.0f} s; "
                "the server is overloaded or the timeout is too short (timeout=...)"
            ) from None
        if response.status_code in (401, 403):
            user = f"user {self.username!r}" if self.username else "anonymous access"
            raise AuthenticationError(
                f"Orthanc at {self.url} refused {user} (HTTP {response.status_code}); {HINT_AUTH}"
            )
        if response.status_code == 404 and what is not None:
            raise NotFoundError(f"{what} not found on Orthanc at {self.url}")
        if response.status_code >= 400:
            raise ArchiveError(
                f"Orthanc at {self.url} answered HTTP {response.status_code} to {method} {path}: "
                f"{_orthanc_message(response)}"
            )
        if not stream and len(response.content) >= LARGE_ANSWER:
            self._next_on_other_connection()
        return response

    def _next_on_other_connection(self) -> None:
        """Send what follows a large answer on another connection than the one that brought it.

        Orthanc 1.10 frees a large answer (its JSON tree) after sending it, on the thread serving that
        connection: the next request on the same connection waited 52-64 ms after 16,000 expanded studies,
        one on another connection 4 ms (its own thread, the other core).
        """
        if len(self._sessions) == 1:
            auth = self.session.auth if isinstance(self.session.auth, tuple) else (None, None)
            retries, pool_size = self._pool
            self._sessions.append(make_session(auth[0], auth[1], retries=retries, pool_size=pool_size))
        self._turn = 1 - self._turn

    def get_json(self, path: str, *, what: str | None = None, **kwargs: Any) -> Any:
        """GET ``path`` and decode its JSON body."""
        return self.request("GET", path, what=what, **kwargs).json()

    def post_json(self, path: str, body: Any, *, what: str | None = None, **kwargs: Any) -> Any:
        """POST ``body`` as UTF-8 JSON to ``path`` and decode the JSON answer."""
        return self.request("POST", path, what=what, json=body, **kwargs).json()

    def get_bytes(self, path: str, *, what: str | None = None, **kwargs: Any) -> bytes:
        """GET ``path`` and return the raw body."""
        return self.request("GET", path, what=what, **kwargs).content

    def system(self) -> dict[str, Any]:
        """Return ``/system`` (name, version, plugins enabled ...): a cheap authenticated health check."""
        return self.get_json("/system")

    def upload(
        self,
        items: Iterable[str | Path | bytes | Any],
        *,
        workers: int = 4,
        progress: bool = True,
        desc: str = "upload",
    ) -> list[UploadResult]:
        """Store DICOM instances through ``POST /instances``, several at a time, with a progress bar.

        Parameters
        ----------
        items
            File paths, raw DICOM bytes, or pydicom ``Dataset`` objects (written as DICOM Part 10).
        workers
            Uploads in flight at once.
        progress
            Show a tqdm bar.
        desc
            Label of the bar.

        Returns
        -------
        list of UploadResult
            One per item, in the order given; ``status`` is ``"Success"`` or ``"AlreadyStored"``.

        Raises
        ------
        ArchiveError
            If Orthanc refuses an instance; the message names it.
        """
        from tqdm.auto import tqdm

        items = list(items)

        def send(item: Any) -> UploadResult:
            name, payload = _as_bytes(item)
            try:
                answer = self.request(
                    "POST", "/instances", data=payload, headers={"Content-Type": "application/dicom"}
                ).json()
            except ArchiveError as exc:
                if isinstance(exc, AuthenticationError):
                    raise
                raise ArchiveError(f"Orthanc refused {name}: {exc}") from None
            return UploadResult(
                source=name,
                instance_id=answer["ID"],
                status=answer.get("Status", "Success"),
                series_id=answer.get("ParentSeries"),
                study_id=answer.get("ParentStudy"),
                patient_id=answer.get("ParentPatient"),
            )

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(
                tqdm(pool.map(send, items), total=len(items), desc=desc, unit="file", disable=not progress)
            )
        return results


def make_session(
    username: str | None, password: str | None, *, retries: int = DEFAULT_RETRIES, pool_size: int = 16
) -> requests.Session:
    """A ``requests`` session with basic auth, a connection pool and urllib3 retries.

    Retries cover connection errors, HTTP 502/503/504 and one dropped read; shared by
    :class:`OrthancClient` and the DICOMweb archive.
    """
    session = requests.Session()
    if username is not None:
        session.auth = (username, password or "")
    retry = Retry(
        total=retries,
        connect=retries,
        # Orthanc 1.10 closes idle keep-alive connections after about a second; a request sent on one
        # just as it closes fails with RemoteDisconnected. Everything we send is safe to repeat (a stored
        # instance is stored once), so one read retry is allowed.
        read=1,
        status=retries,
        backoff_factor=0.2,
        status_forcelist=(502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD", "POST", "PUT", "DELETE"}),
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass(frozen=True)
class UploadResult:
    """What Orthanc said about one uploaded instance."""

    source: str
    instance_id: str
    status: str
    series_id: str | None = None
    study_id: str | None = None
    patient_id: str | None = None


def _as_bytes(item: Any) -> tuple[str, bytes]:
    if isinstance(item, (str, Path)):
        path = Path(item)
        try:
            return str(path), path.read_bytes()
        except FileNotFoundError:
            raise ArchiveError(f"cannot upload {path}: no such file") from None
    if isinstance(item, (bytes, bytearray)):
        return "<bytes>", bytes(item)
    # a pydicom Dataset
    buffer = io.BytesIO()
    item.save_as(buffer, enforce_file_format=True)
    return f"SOPInstanceUID {getattr(item, 'SOPInstanceUID', '?')}", buffer.getvalue()


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    if "timed out" in text:
        return "connection timed out"
    return "connection failed"


def _orthanc_message(response: requests.Response) -> str:
    return orthanc_message(response.content, response.reason or "")


def orthanc_message(content: bytes, reason: str = "") -> str:
    """What Orthanc says in an error answer (its JSON ``Message``/``Details``, else the text), one line."""
    try:
        body = json.loads(content)
    except ValueError:
        return (content.decode("utf-8", "replace") or reason).strip()[:300]
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("Message", "Details", "OrthancError") if body.get(k)]
        return "; ".join(dict.fromkeys(parts)) or str(body)[:300]
    return str(body)[:300]
