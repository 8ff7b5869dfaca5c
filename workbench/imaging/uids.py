"""DICOM UIDs as arguments and as file names.

A UID given by the user (``load_series(uid)``, ``fetch UID``, ``studies(study_uid=...)``) must be exactly one
UID: an empty string or ``'A\\B'`` would otherwise widen a query (no filter, or DICOM list matching) and
return other patients' data. A UID sent by a server becomes a file name (``download_series``, the instance
cache) only when it is a UID, and only inside its folder: ``../../x`` never leaves it.
"""

from __future__ import annotations

import re
from pathlib import Path

from workbench.errors import DicomDataError

UID_MAX_LENGTH = 64
_UID_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)*$")


def is_uid(value: object) -> bool:
    """Tell whether ``value`` is one DICOM UID: digits in dot-separated components, at most 64 characters.

    Leading zeros in a component (forbidden by the standard, met in real data) are accepted: they are still
    one UID and a safe file name.
    """
    return isinstance(value, str) and len(value) <= UID_MAX_LENGTH and bool(_UID_RE.match(value))


def uid_problem(value: object) -> str | None:
    """Why ``value`` is not one UID (a phrase for an error message), or ``None`` when it is one."""
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a UID string"
    if not value.strip():
        return "is empty"
    if "\\" in value:
        return "holds several values (a backslash); give one UID"
    if len(value) > UID_MAX_LENGTH:
        return f"is longer than {UID_MAX_LENGTH} characters"
    if not _UID_RE.match(value):
        return "is not a DICOM UID (digits and dots, like 1.2.840.113619.2.55.3)"
    return None


def uid_file(folder: str | Path, uid: str, suffix: str = ".dcm") -> Path:
    """``folder / (uid + suffix)``, for a UID that came from a server.

    Raises
    ------
    DicomDataError
        Naming the value, when it is not a UID or the file would not lie directly inside ``folder``.
    """
    problem = uid_problem(uid)
    if problem is not None:
        raise DicomDataError(
            f"instance {uid!r}: its SOPInstanceUID {problem}; it cannot name a file, so it is refused"
        )
    folder = Path(folder)
    path = folder / f"{uid}{suffix}"
    if path.resolve().parent != folder.resolve():  # cannot happen for a UID; kept as the last guard
        raise DicomDataError(f"instance {uid!r} would be written outside {folder}; refused")
    return path
