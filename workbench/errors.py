"""Exceptions of the workbench.

Every mistake a user can make (an unreachable server, a wrong password, an unknown UID, a malformed case
file, an unknown prompt version ...) raises a :class:`WorkbenchError` subclass whose message names the
thing that is wrong and how to fix it. The ``workbench`` command prints that message on one line and
exits non-zero, without a traceback; notebooks show it as the exception's text.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class of every error meant for the user rather than for a developer."""


class ConfigError(WorkbenchError):
    """A setting is missing or invalid (environment variable or config file)."""


class ArchiveError(WorkbenchError):
    """The DICOM archive could not be reached or refused a request."""


class AuthenticationError(ArchiveError):
    """The archive rejected the credentials."""


class NotFoundError(WorkbenchError, LookupError):
    """A named thing (UID, case, prompt version, history id ...) does not exist."""


class DicomDataError(WorkbenchError, ValueError):
    """A DICOM object cannot be used as asked (no pixel data, inconsistent geometry, truncated file ...)."""


class ServerError(WorkbenchError):
    """The managed local Orthanc could not be started, stopped or found."""


class CaseFormatError(WorkbenchError, ValueError):
    """A case file is malformed; the message carries ``file:line``."""


class PromptError(WorkbenchError, ValueError):
    """A prompt version is unknown, malformed, or its placeholders do not match the values given."""


class BackendError(WorkbenchError):
    """A model backend is unknown, misconfigured, or its service refused the request."""


class BudgetError(WorkbenchError):
    """An experiment would exceed its budget."""


class SpecError(WorkbenchError, ValueError):
    """An experiment spec is malformed or names something that does not exist."""


class ThrottledError(BackendError):
    """The model service throttled the request even after the backend's own retries; retry later."""


class MissingDependencyError(WorkbenchError, ImportError):
    """An optional package is not installed; the message names the extra that brings it."""


class FileWriteError(WorkbenchError, OSError):
    """A file or folder could not be written (no permission, not a folder, read-only disk ...).

    Nothing half-written was kept. Also an :class:`OSError`, so code that handles failed writes in general
    still sees it.
    """


class DiskFullError(FileWriteError):
    """A file could not be written because its disk (or quota) is full; nothing half-written was kept."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says a disk or quota is full (``ENOSPC``, ``EDQUOT``, SQLite's ``SQLITE_FULL``)."""
    import errno
    import sqlite3

    if isinstance(exc, DiskFullError):
        return True
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return False
