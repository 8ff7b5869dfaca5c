"""``connect()``: the archive at a URL (or the configured one) as an :class:`~.archive.Archive`."""

from __future__ import annotations

import logging

from workbench import config
from workbench.errors import ArchiveError, ConfigError, NotFoundError
from workbench.imaging.archive import Archive, ArchiveKind
from workbench.imaging.dicomweb import DicomWebArchive
from workbench.imaging.orthanc import OrthancArchive
from workbench.imaging.rest import DEFAULT_RETRIES, DEFAULT_TIMEOUT, OrthancClient

logger = logging.getLogger(__name__)

ORTHANC_DICOMWEB_ROOT = "dicom-web"
"""Where Orthanc's DICOMweb plugin answers, below the server's base URL (its default ``Root``)."""


def connect(
    url: str | None = None,
    username: str | None = None,
    password: str | None = None,
    *,
    kind: str | ArchiveKind = ArchiveKind.AUTO,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    cache: bool = True,
) -> Archive:
    """Connect to a DICOM archive.

    Parameters
    ----------
    url, username, password
        Where the server is and how to log in. With no ``url``, the configured server is used
        (``WORKBENCH_ORTHANC_URL``/``_USER``/``_PASSWORD``, then the ``[orthanc]`` table of the config file).
    kind
        ``"orthanc"`` (REST fast paths), ``"dicomweb"`` (any DICOMweb server: its DICOMweb root, or
        Orthanc's base URL, whose root ``<url>/dicom-web`` is then used) or ``"auto"``: Orthanc when
        ``/system`` answers as Orthanc does, else DICOMweb.
    timeout
        ``(connect, read)`` seconds for every request.
    retries
        Retries on connection errors and HTTP 502/503/504.
    cache
        Keep retrieved instances and decoded volumes on disk (``<cache folder>/dicom``, ``/volumes``).

    Returns
    -------
    Archive

    Raises
    ------
    ConfigError
        No URL given and none configured.
    ArchiveError, AuthenticationError
        The server cannot be reached or refuses the credentials (checked at once, with one request).
    """
    try:
        kind = ArchiveKind(kind)
    except ValueError:
        raise ArchiveError(f"kind {kind!r} is not one of {[k.value for k in ArchiveKind]}") from None
    if url is None:
        settings = config.orthanc_settings()
        if not settings.url:
            raise ConfigError(
                "no archive is configured; run 'workbench orthanc start' for a local Orthanc, or set "
                "WORKBENCH_ORTHANC_URL, WORKBENCH_ORTHANC_USER and WORKBENCH_ORTHANC_PASSWORD"
            )
        url, username, password = settings.url, settings.username, settings.password
    client = OrthancClient(url, username, password, timeout=timeout, retries=retries)
    try:  # one authenticated request: unreachable servers and wrong passwords fail here, clearly
        system = client.get_json("/system", what=f"Orthanc's /system at {client.url}")
    except (NotFoundError, ValueError):  # 404 or not JSON: not Orthanc's REST API
        system = None
    is_orthanc = isinstance(system, dict) and "ApiVersion" in system
    if is_orthanc and kind is not ArchiveKind.DICOMWEB:
        return OrthancArchive(client, cache=cache)
    client.close()
    if kind is ArchiveKind.ORTHANC:
        raise ArchiveError(f"{client.url} does not answer /system as Orthanc does; use kind='dicomweb'")
    if is_orthanc:  # Orthanc's base URL with kind="dicomweb": its DICOMweb root is <url>/dicom-web
        url = f"{url.rstrip('/')}/{ORTHANC_DICOMWEB_ROOT}"
        logger.info("%s is Orthanc: using its DICOMweb root %s", client.url, ORTHANC_DICOMWEB_ROOT)
    archive = DicomWebArchive(url, username, password, timeout=timeout, retries=retries, cache=cache)
    archive.ping()
    return archive
