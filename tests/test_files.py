"""Files written whole or not at all."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import BinaryIO

import pytest

from workbench.files import atomic_write


def test_writes_bytes_or_through_a_function(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    assert atomic_write(path, b"one") and path.read_bytes() == b"one"
    assert atomic_write(path, lambda fh: fh.write(b"two")) and path.read_bytes() == b"two"
    assert atomic_write(path, memoryview(b"three")) and path.read_bytes() == b"three"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_mode_is_set(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    atomic_write(path, b"s", mode=0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_exclusive_keeps_the_first_file(tmp_path: Path) -> None:
    path = tmp_path / "claim.json"
    assert atomic_write(path, b"first", exclusive=True) is True
    assert atomic_write(path, b"second", exclusive=True) is False
    assert path.read_bytes() == b"first" and list(tmp_path.iterdir()) == [path]


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "data.npy"
    path.write_bytes(b"old")

    def half(fh: BinaryIO) -> None:
        fh.write(b"half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half, prefix=".part-")
    assert path.read_bytes() == b"old" and list(tmp_path.iterdir()) == [path]


def test_a_full_disk_keeps_the_old_file_and_says_so(tmp_path: Path) -> None:
    import errno
    import os

    from workbench.errors import DiskFullError

    path = tmp_path / "ct.npz"
    path.write_bytes(b"the previous output")

    def fill_the_disk(fh: BinaryIO) -> None:
        fh.write(b"half of the new one")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(DiskFullError, match=r"cannot write .*ct\.npz: the disk is full \(No space left"):
        atomic_write(path, fill_the_disk)
    assert path.read_bytes() == b"the previous output"
    assert list(tmp_path.iterdir()) == [path]


def test_files_are_private_by_default(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "out.json", b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o600
