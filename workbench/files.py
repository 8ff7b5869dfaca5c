"""Files written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from workbench.errors import DiskFullError, FileWriteError, is_disk_full


def atomic_write(
    path: str | Path,
    data: bytes | memoryview | Callable[[BinaryIO], object],
    *,
    mode: int | None = None,
    prefix: str | None = None,
    exclusive: bool = False,
) -> bool:
    """Write a file through a temporary file in the same folder, then move it into place.

    A reader sees the old file or the new one, never half of one. On an error nothing is left behind: the
    old file stays and the temporary file is removed.

    Parameters
    ----------
    path
        The file. Its folder must exist.
    data
        The bytes, or a function that writes them to the open binary file (``np.save``, ``json.dump`` ...).
    mode
        Permission bits, set before any byte is written (``0o600`` for secrets).
    prefix
        Name prefix of the temporary file (default ``.<name>.``).
    exclusive
        Create only: leave an existing file alone and return ``False`` (a hard link, atomic on POSIX).

    Returns
    -------
    bool
        Whether the file was written (always ``True`` unless ``exclusive``).

    Raises
    ------
    DiskFullError
        The disk or quota is full (the old file, if any, is intact).
    FileWriteError
        The folder is missing or not writable (the message names the file).
    """
    path = Path(path)
    try:
        return _write(path, data, mode=mode, prefix=prefix, exclusive=exclusive)
    except FileWriteError:
        raise
    except OSError as exc:
        raise write_error(path, exc) from None


def write_error(path: str | Path, exc: OSError) -> FileWriteError:
    """The one-line error for a failed write of ``path``: :class:`DiskFullError` when the disk is full."""
    reason = exc.strerror or str(exc)
    if is_disk_full(exc):
        return DiskFullError(
            f"cannot write {path}: the disk is full ({reason}); nothing was changed: free space and run "
            "the command again"
        )
    return FileWriteError(f"cannot write {path}: {reason}; choose a place you can write to")


def make_folder(path: str | Path, *, private: bool = False) -> Path:
    """Create a folder and its parents (no error if it exists); ``private``: the new folder is 0700.

    Raises
    ------
    FileWriteError
        It cannot be created (no permission, a file in the way ...).
    """
    path = Path(path)
    try:
        path.mkdir(mode=0o700 if private else 0o777, parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc) from None
    return path


def _write(
    path: Path,
    data: bytes | memoryview | Callable[[BinaryIO], object],
    *,
    mode: int | None,
    prefix: str | None,
    exclusive: bool,
) -> bool:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix if prefix is not None else f".{path.name}.")
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data)
        if not exclusive:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)


def check_can_create(path: str | Path) -> None:
    """Fail now, creating nothing, if ``path`` (a file or folder to be made later) could not be written.

    Looks at the nearest part of the path that exists: it must be a folder the user can write to.

    Raises
    ------
    FileWriteError
        Naming ``path`` and why.
    """
    path = Path(path).absolute()
    existing = path if path.exists() else next((p for p in path.parents if p.exists()), Path("/"))
    if existing == path and path.is_dir():
        existing_ok = os.access(path, os.W_OK | os.X_OK)
    else:
        existing_ok = existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
    if not existing_ok:
        why = "is not a folder" if not existing.is_dir() else "is not writable"
        raise FileWriteError(f"cannot write {path}: {existing} {why}; choose a place you can write to")


def read_utf8(path: str | Path, error: type[Exception], *, bom: bool = True) -> str:
    """Read a UTF-8 text file; a byte that is not UTF-8 is ``error`` naming ``file:line``.

    Parameters
    ----------
    path
        The file.
    error
        The exception type to raise (:class:`~workbench.errors.CaseFormatError`, ``SpecError`` ...).
    bom
        Drop a leading byte-order mark (Excel writes one).
    """
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column}); save the file "
            "as UTF-8"
        ) from None
