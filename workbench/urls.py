"""Server URLs checked before any request, and shown without their password.

A URL may carry credentials (``http://user:secret@host:8042``). They are taken out of the URL at once, so that
no error message, log line or ``repr`` ever shows the password.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

from workbench.errors import ConfigError

_USERINFO = re.compile(r"(?<=://)([^/@\s]*)@")


def hide_password(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (``http://user:***@host``).

    Works on malformed URLs too (it never parses them), so it is safe inside error messages.
    """

    def mask(match: re.Match[str]) -> str:
        user, colon, _ = match.group(1).partition(":")
        return f"{user}:***@" if colon else f"{user}@"

    return _USERINFO.sub(mask, url)


def split_url(url: str, *, what: str = "server URL") -> tuple[str, str | None, str | None]:
    """Check an http(s) URL and take its credentials out.

    Parameters
    ----------
    url
        ``http(s)://[user[:password]@]host[:port][/path]``.
    what
        What the URL is for, named in the error ("Orthanc URL", "DICOMweb URL").

    Returns
    -------
    tuple
        The URL without credentials and trailing slash, the user name and the password (``None`` when absent).

    Raises
    ------
    ConfigError
        If the URL is not a valid http(s) URL with a host (malformed IPv6 brackets, spaces, a bad port ...);
        the message shows the URL without its password.
    """
    shown = hide_password(str(url))
    problem = None
    parts = None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        problem = "it does not start with http:// or https://"
    elif any(c.isspace() for c in url) or any(ord(c) < 32 for c in url):
        problem = "it contains a space or a control character"
    else:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535" ...
            problem = str(exc)
        else:
            if not parts.hostname:
                problem = "it names no host"
            elif port == 0:
                problem = "port 0 is not a port"
    if problem is not None or parts is None:
        raise ConfigError(f"{what} {shown!r} is not valid: {problem}; give one like http://127.0.0.1:8042")
    netloc = parts.netloc.rpartition("@")[2]
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)).rstrip("/")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return clean, username, password
