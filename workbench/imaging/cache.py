"""On-disk caches: DICOM instances keyed by server and SOPInstanceUID, and the volumes built from them.

Volumes live in ``<cache folder>/volumes/<server key>/<entry>.npy`` (+ ``.json`` geometry), so that a second
:meth:`~workbench.imaging.archive.Archive.load_series` of the same series is one lookup and one ``np.load``;
the entry hashes what the server says about the series' current content, so a series that changed or was
stored again is rebuilt. Files fetched by ``download_series`` live in
``<cache folder>/dicom/<server key>/<SOPInstanceUID>.dcm``, as the server stored them (no transcoding). The
server key is a short hash of the server's URL and user: two servers never share entries, and the folder
name reveals neither. :meth:`InstanceCache.clear` and :meth:`VolumeCache.clear` empty the caches of one
server.

**Only what it made.** The cache folder gets a marker file (:data:`MARKER`) when the workbench first writes
into it, and pruning or clearing deletes only files whose names the caches make (a UID ``.dcm``, a 32-hex
volume ``.npy``/``.json``, a ``.part-`` leftover) inside server folders (16 hex digits), and only in a
marked folder: a ``dicom/`` or ``volumes/`` folder of the user's own is never touched.

**Verified, not trusted.** Each cached instance ends with a trailer recording its size, a CRC-32 and the
server's version of the file (Orthanc: its attachment UUID and size); a cut, corrupted or stale file is
deleted and fetched again, with a warning. Each volume's geometry file records its array's shape, dtype and
CRC-32 (computed at write); a volume whose array does not match is discarded. Volumes are written by a
background thread after the load returns (the data once: a load does not cache its instance files).

The two image caches together are kept under a size limit (:func:`image_cache_limit`: by default half of the
disk they are on; ``WORKBENCH_IMAGE_CACHE_MAX_GB`` or ``[cache] images_max_gb`` in ``config.toml``, 0 for
none): after a write, the least recently used entries (a file, or a volume with its
geometry) are deleted until they hold 90 % of it. Reading an entry marks it used. The model-response cache
(``responses.sqlite``) is never touched: its entries are paid for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import shutil
import struct
import threading
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from workbench import config
from workbench.errors import ConfigError
from workbench.files import atomic_write
from workbench.imaging.uids import is_uid

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from workbench.imaging.volume import Volume

logger = logging.getLogger(__name__)

PART_PREFIX = ".part-"
"""Name prefix of files being written (left behind only by a crash)."""
MARKER = ".workbench-image-cache"
"""File that marks a folder as holding the workbench's image caches (nothing is deleted without it)."""
_SERVER_RE = re.compile(r"^[0-9a-f]{16}$")
_INSTANCE_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)*\.dcm$")
_VOLUME_RE = re.compile(r"^[0-9a-f]{32}\.(?:npy|json)$")
_FRAME_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)*-[0-9]+\.frame$")
_MEMO_RE = re.compile(r"^study-modalities\.json$")  # workbench.imaging.search_memo
_TRAILER = struct.Struct("<QIH8s")  # data size, CRC-32, version length, magic
_MAGIC = b"WBCACHE1"


def mark(root: Path) -> None:
    """Mark ``root`` as a workbench image cache (once; before anything is written into it)."""
    marker = root / MARKER
    if not marker.exists():
        root.mkdir(parents=True, exist_ok=True)
        text = "This folder holds the workbench's image caches; `workbench cache clear` empties them.\n"
        atomic_write(marker, text.encode(), exclusive=True)


def is_marked(root: str | Path) -> bool:
    """Whether ``root`` holds the workbench's image caches (its marker file exists)."""
    return (Path(root) / MARKER).is_file()


def _ours(kind: str, name: str) -> bool:
    """Whether a file name in a server folder of ``kind`` is one the caches make."""
    if name.startswith(PART_PREFIX):
        return True
    pattern = {"instance": _INSTANCE_RE, "frame": _FRAME_RE, "memo": _MEMO_RE}.get(kind, _VOLUME_RE)
    return bool(pattern.match(name))


def _clear_folder(folder: Path, kind: str) -> None:
    """Delete the cache's own files in one server folder (and the folder, when that empties it)."""
    if not is_marked(folder.parent.parent):
        return
    try:
        items = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for item in items:
        if item.is_file(follow_symlinks=False) and _ours(kind, item.name):
            Path(item.path).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: something that is not ours stays
        folder.rmdir()


class CacheWarning(UserWarning):
    """A cached entry was cut, corrupted or stale, and was fetched again."""


def server_key(url: str, username: str | None = None) -> str:
    """A short, stable, non-reversible folder name for one server (URL + user)."""
    digest = hashlib.sha256(f"{url.rstrip('/')}\n{username or ''}".encode()).hexdigest()
    return digest[:16]


class InstanceCache:
    """Stored DICOM files of one server on local disk.

    Parameters
    ----------
    key
        The server's key (:func:`server_key`).
    root
        The cache folder; default :func:`workbench.config.cache_dir`. Files go to ``<root>/dicom/<key>``.
    """

    def __init__(self, key: str, root: str | Path | None = None) -> None:
        self.root = Path(root or config.cache_dir())
        self.folder = self.root / "dicom" / key

    def __repr__(self) -> str:
        return f"InstanceCache({str(self.folder)!r})"

    def path(self, sop_instance_uid: str) -> Path:
        """Where the instance is (or would be) cached.

        Raises
        ------
        DicomDataError
            If the UID is not a DICOM UID (it becomes a file name, so it must be safe); naming it.
        """
        from workbench.imaging.uids import uid_file

        return uid_file(self.folder, sop_instance_uid)

    def get(self, sop_instance_uid: str, version: str | None = None) -> bytes | None:
        """The cached file's bytes (marking it used), or ``None`` when it is not cached or not valid.

        The trailer's size and CRC-32 are checked, and its version against ``version`` when given; an entry
        that fails (cut, corrupted, written by an older workbench, or the server's copy changed) is
        deleted, with a :class:`CacheWarning`, so that the caller fetches it again.
        """
        if not is_uid(sop_instance_uid):
            return None
        path = self.path(sop_instance_uid)
        try:
            blob = path.read_bytes()
            os.utime(path)
        except FileNotFoundError:  # also when evicted by another process meanwhile
            return None
        data, problem = _unwrap(blob, version)
        if problem is None:
            return data
        import warnings

        message = f"cached instance {sop_instance_uid} is {problem}; fetching it again from the server"
        logger.warning("%s (%s)", message, path)
        warnings.warn(message, CacheWarning, stacklevel=3)
        path.unlink(missing_ok=True)
        return None

    def __contains__(self, sop_instance_uid: str) -> bool:
        return is_uid(sop_instance_uid) and self.path(sop_instance_uid).exists()

    def put(self, sop_instance_uid: str, data: bytes | memoryview, version: str = "") -> Path:
        """Store one file atomically (a reader never sees half a file), with its trailer; return its path."""
        path = self.path(sop_instance_uid)
        mark(self.root)
        self.folder.mkdir(parents=True, exist_ok=True)
        tag = version.encode("utf-8")[:1000]
        trailer = tag + _TRAILER.pack(len(data), zlib.crc32(data), len(tag), _MAGIC)

        def write(fh: BinaryIO) -> None:
            fh.write(data)
            fh.write(trailer)

        atomic_write(path, write, prefix=PART_PREFIX)
        JANITOR.wrote(self.root, len(data) + len(trailer))
        return path

    def clear(self) -> None:
        """Delete every cached file of this server (only the cache's own files)."""
        _clear_folder(self.folder, "instance")
        JANITOR.forget(self.root)


def _unwrap(blob: bytes, version: str | None) -> tuple[bytes, str | None]:
    """The file inside a cached instance, and what is wrong with the entry (``None``: nothing)."""
    if len(blob) < _TRAILER.size or blob[-8:] != _MAGIC:
        return b"", "cut short or not written by this version of the workbench"
    size, crc, tag_length, _ = _TRAILER.unpack_from(blob, len(blob) - _TRAILER.size)
    if size + tag_length + _TRAILER.size != len(blob):
        return b"", f"cut short ({len(blob) - _TRAILER.size - tag_length} of {size} bytes)"
    data = blob[:size]
    if zlib.crc32(data) != crc:
        return b"", "corrupted (its checksum does not match)"
    stored = blob[size : size + tag_length].decode("utf-8", "replace")
    if version and stored != version:
        return b"", "stale (the server's copy was stored again)"
    return data, None


class VolumeCache:
    """Decoded volumes of one server, keyed by series and the exact set of its instances.

    A warm :meth:`~workbench.imaging.archive.Archive.load_series` then costs one query and one read of an
    ``.npz`` file, instead of parsing and decoding every instance again (about 10 times slower on a
    300-slice CT). The key hashes the series UID with the identifiers of all its instances, so a series that
    gained or lost instances is rebuilt. Volumes built with skipped instances are never stored.

    Parameters
    ----------
    key
        The server's key (:func:`server_key`).
    root
        The cache folder; default :func:`workbench.config.cache_dir`. Volumes go to ``<root>/volumes/<key>``.
    """

    def __init__(self, key: str, root: str | Path | None = None) -> None:
        self.root = Path(root or config.cache_dir())
        self.folder = self.root / "volumes" / key

    def __repr__(self) -> str:
        return f"VolumeCache({str(self.folder)!r})"

    @staticmethod
    def entry(series_uid: str, instance_ids: list[str]) -> str:
        """The cache entry name of a series holding exactly ``instance_ids`` (any order)."""
        digest = hashlib.sha256("\n".join([series_uid, *sorted(instance_ids)]).encode()).hexdigest()
        return digest[:32]

    def get(self, entry: str) -> Volume | None:
        """The cached volume, or ``None`` (also when the entry is unreadable, which is then removed).

        Waits for this process's background write of the entry, if one is under way. The array's shape,
        dtype and size must be those recorded at write (a cut or replaced file is discarded).
        """
        import numpy as np

        from workbench.imaging.volume import Volume

        WRITER.wait(self.folder / entry)
        array_path, info_path = self.folder / f"{entry}.npy", self.folder / f"{entry}.json"
        if not info_path.exists():
            return None
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
            array = np.load(array_path, allow_pickle=False)
            if [list(array.shape), str(array.dtype)] != [info["shape"], info["dtype"]]:
                raise ValueError(f"array {array.shape} {array.dtype} is not the {info['shape']} written")
            for path in (array_path, info_path):
                os.utime(path)
            return Volume(
                array=array,
                spacing=tuple(info["spacing"]),
                origin=tuple(info["origin"]),
                direction=np.asarray(info["direction"]),
                metadata=info["metadata"],
            )
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("discarding unreadable cached volume %s (%s)", info_path, exc)
            info_path.unlink(missing_ok=True)
            array_path.unlink(missing_ok=True)
            return None

    def put(self, entry: str, volume: Volume, *, background: bool = False, crc32: int | None = None) -> Path:
        """Store a volume (``.npy`` array, then ``.json`` geometry, each atomically); return the array's path.

        A raw ``.npy`` rather than ``Volume.save``'s ``.npz``: zip's CRC makes writing several times slower.

        Parameters
        ----------
        entry
            The entry name (:meth:`entry`).
        volume
            What to store.
        background
            Return at once; a background thread writes (:data:`WRITER`), then keeps the caches under their
            size limit. The array's CRC-32 is taken now and checked against what is written: if the caller
            changes the array meanwhile, nothing is cached.
        crc32
            The array's CRC-32 when the caller has it already (a load takes it slice by slice as the
            slices arrive): the array is then not read again here.
        """
        import numpy as np

        array = np.ascontiguousarray(volume.array)
        info = {
            "spacing": list(volume.spacing),
            "origin": list(volume.origin),
            "direction": np.asarray(volume.direction).tolist(),
            "metadata": volume.metadata,
            "shape": list(array.shape),
            "dtype": str(array.dtype),
            "crc32": zlib.crc32(array.reshape(-1).view(np.uint8).data) if crc32 is None else crc32,
        }
        text = json.dumps(info, default=str).encode("utf-8")  # now: the caller may change the metadata
        if background:

            def job() -> None:
                self._write(entry, array, text, info["crc32"])
                JANITOR.check(self.root)

            WRITER.submit(self.folder / entry, job)
        else:
            self._write(entry, array, text, info["crc32"])
        return self.folder / f"{entry}.npy"

    def _write(self, entry: str, array: np.ndarray, info: bytes, crc: int) -> None:
        import numpy as np

        mark(self.root)
        self.folder.mkdir(parents=True, exist_ok=True)
        array_path, info_path = self.folder / f"{entry}.npy", self.folder / f"{entry}.json"
        written = 0

        def write(fh: BinaryIO) -> None:
            nonlocal written
            np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(array))
            view = array.reshape(-1).view(np.uint8).data
            step = 8 << 20
            for start in range(0, len(view), step):
                chunk = bytes(view[start : start + step])  # what is checksummed is what is written
                written = zlib.crc32(chunk, written)
                fh.write(chunk)

        atomic_write(array_path, write, prefix=PART_PREFIX)
        if written != crc:
            array_path.unlink(missing_ok=True)
            logger.warning("volume %s changed while it was being cached; not cached", entry)
            return
        size = array_path.stat().st_size  # before the geometry makes the entry visible (and prunable)
        atomic_write(info_path, info, prefix=PART_PREFIX)
        JANITOR.wrote(self.root, size + len(info))

    def clear(self) -> None:
        """Delete every cached volume of this server (only the cache's own files)."""
        WRITER.wait_all()
        _clear_folder(self.folder, "volume")
        JANITOR.forget(self.root)


class _Writer:
    """One background thread writing volumes to the cache after their load has returned.

    Its thread is joined when the interpreter exits (so writes finish), and a read of an entry being
    written waits for it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[Path, Future[None]] = {}

    def submit(self, key: Path, job: object) -> None:
        def run() -> None:
            try:
                job()  # type: ignore[operator]
            except OSError as exc:  # a full or read-only disk: caching never fails anything
                logger.warning("could not write %s to the cache: %s", key, exc)
            finally:
                with self._lock:
                    if self._pending.get(key) is future:
                        del self._pending[key]

        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="workbench-cache")
            future = self._pool.submit(run)
            self._pending[key] = future

    def wait(self, key: Path) -> None:
        with self._lock:
            future = self._pending.get(key)
        if future is not None:
            future.result()

    def wait_all(self) -> None:
        with self._lock:
            futures = list(self._pending.values())
        for future in futures:
            future.result()


WRITER = _Writer()
"""The process's background volume writer."""


# -- size limit ----------------------------------------------------------------------------------------------
IMAGE_FOLDERS = {"dicom": "instance", "volumes": "volume", "frames": "frame", "search": "memo"}
"""The image caches inside the cache folder, and what one entry of each is."""
DISK_SHARE = 0.5
"""Default limit: this share of the size of the disk holding the cache folder."""
PRUNE_TO = 0.9
"""Pruning deletes until the caches hold this share of the limit, so that it does not run on every load."""
STALE_PART_SECONDS = 3600
"""Half-written files (``.part-*``) older than this are left over from a crash, and deleted first."""


def image_cache_limit(root: str | Path | None = None) -> int | None:
    """The size limit of the image caches in bytes, or ``None`` for no limit.

    ``WORKBENCH_IMAGE_CACHE_MAX_GB`` or ``[cache] images_max_gb`` in ``config.toml`` (gigabytes, 0 for no
    limit); by default :data:`DISK_SHARE` of the disk holding the cache folder.

    Raises
    ------
    ConfigError
        The setting is not a number of gigabytes (0 or more).
    """
    value = config.cache_settings().images_max_gb
    if value is None:
        folder = Path(root or config.cache_dir())
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        return int(shutil.disk_usage(folder).total * DISK_SHARE)
    try:
        gigabytes = float(value)
    except (TypeError, ValueError):
        gigabytes = -1.0
    if not math.isfinite(gigabytes) or gigabytes < 0:
        raise ConfigError(
            f"image cache limit {value!r} (WORKBENCH_IMAGE_CACHE_MAX_GB or [cache] images_max_gb) is not a "
            "number of gigabytes; use e.g. 20, or 0 for no limit"
        )
    return None if gigabytes == 0 else int(gigabytes * 1e9)


@dataclass(frozen=True)
class CachedEntry:
    """One deletable unit of the image caches."""

    kind: str
    """``instance``, ``volume`` (array and geometry together), ``frame`` (one tile of a whole-slide image),
    ``memo`` (a server's remembered study modalities, :mod:`workbench.imaging.search_memo`) or ``partial``
    (a crash's leftover)."""
    server: str
    """The server's key (:func:`server_key`)."""
    paths: tuple[Path, ...]
    size: int
    last_used: float
    """Seconds since the epoch (the newest modification time: reads touch the files)."""


def scan(root: str | Path | None = None) -> list[CachedEntry]:
    """Every entry of the image caches under the cache folder ``root`` (default: the configured one)."""
    root = Path(root or config.cache_dir())
    now = time.time()
    entries: list[CachedEntry] = []
    if not is_marked(root):  # not a folder the workbench made: nothing in it is ours to delete
        return entries
    for folder, kind in IMAGE_FOLDERS.items():
        base = root / folder
        if not base.is_dir():
            continue
        for server in os.scandir(base):
            if not server.is_dir(follow_symlinks=False) or not _SERVER_RE.match(server.name):
                continue
            groups: dict[str, list[tuple[Path, os.stat_result]]] = {}
            for item in os.scandir(server.path):
                if not item.is_file(follow_symlinks=False) or not _ours(kind, item.name):
                    continue
                try:
                    stat = item.stat(follow_symlinks=False)
                except FileNotFoundError:  # deleted meanwhile
                    continue
                path = Path(item.path)
                if item.name.startswith(PART_PREFIX):
                    if now - stat.st_mtime > STALE_PART_SECONDS:
                        entries.append(
                            CachedEntry("partial", server.name, (path,), stat.st_size, stat.st_mtime)
                        )
                    continue
                # a volume is two files (entry.npy, entry.json) deleted together; an instance is one
                stem = item.name.rsplit(".", 1)[0] if kind == "volume" else item.name
                groups.setdefault(stem, []).append((path, stat))
            for files in groups.values():
                entries.append(
                    CachedEntry(
                        kind,
                        server.name,
                        tuple(sorted((path for path, _ in files), key=lambda path: path.suffix != ".json")),
                        sum(stat.st_size for _, stat in files),
                        max(stat.st_mtime for _, stat in files),
                    )
                )
    return entries


def clear_all(root: str | Path | None = None) -> int:
    """Delete every entry of the image caches in ``root`` (only the cache's own files); return bytes freed."""
    root = Path(root or config.cache_dir())
    WRITER.wait_all()
    entries = scan(root)
    for entry in entries:
        for path in entry.paths:
            path.unlink(missing_ok=True)
    for folder in IMAGE_FOLDERS:
        servers = {entry.paths[0].parent for entry in entries if entry.paths[0].parent.parent.name == folder}
        for server in servers:
            with contextlib.suppress(OSError):
                server.rmdir()
        with contextlib.suppress(OSError):
            (root / folder).rmdir()
    JANITOR.forget(root)
    return sum(entry.size for entry in entries)


def prune(max_bytes: int, root: str | Path | None = None, *, to: float | None = None) -> tuple[int, int]:
    """Delete least recently used entries of the image caches when they hold more than ``max_bytes``.

    Parameters
    ----------
    max_bytes
        The limit.
    root
        The cache folder (default: the configured one).
    to
        Once over the limit, delete until at most ``to * max_bytes`` remain (default :data:`PRUNE_TO`).

    Returns
    -------
    tuple of int
        Entries deleted and bytes freed.
    """
    entries = scan(root)
    total = sum(entry.size for entry in entries)
    stale = [entry for entry in entries if entry.kind == "partial"]
    rest = sorted((entry for entry in entries if entry.kind != "partial"), key=lambda entry: entry.last_used)
    goal = max_bytes * (PRUNE_TO if to is None else to) if total > max_bytes else math.inf
    removed = freed = 0
    for entry in [*stale, *rest]:
        if entry.kind != "partial" and total <= goal:
            break
        for path in entry.paths:  # a volume's geometry first: readers then see no entry, not half of one
            path.unlink(missing_ok=True)
        total -= entry.size
        freed += entry.size
        removed += 1
    if removed:
        logger.info(
            "image cache: deleted %d entries (%.1f MB) to stay under %.1f GB",
            removed,
            freed / 1e6,
            max_bytes / 1e9,
        )
    return removed, freed


def usage(root: str | Path | None = None) -> pd.DataFrame:
    """What the image caches hold: one row per kind and server (entries, GB, least and most recently used)."""
    import pandas as pd

    rows = [
        {"kind": e.kind, "server": e.server, "size": e.size, "last_used": e.last_used} for e in scan(root)
    ]
    frame = pd.DataFrame(rows, columns=["kind", "server", "size", "last_used"])
    table = (
        frame.groupby(["kind", "server"], as_index=False)
        .agg(
            entries=("size", "size"),
            gb=("size", "sum"),
            oldest=("last_used", "min"),
            newest=("last_used", "max"),
        )
        .sort_values(["kind", "server"], ignore_index=True)
    )
    table["gb"] = table["gb"] / 1e9
    for column in ("oldest", "newest"):
        table[column] = pd.to_datetime(table[column], unit="s").dt.floor("s")
    return table


class _Janitor:
    """Keeps the image caches of this process under their limit without scanning them on every write.

    The size of each cache folder is scanned once, then grown by what this process writes; when the estimate
    passes the limit the folder is scanned again and pruned. Other processes' writes are seen at that scan
    (or at theirs).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._estimate: dict[Path, int] = {}

    def wrote(self, root: Path, size: int) -> None:
        with self._lock:
            if root in self._estimate:
                self._estimate[root] += size

    def check(self, root: Path) -> None:
        """Prune ``root``'s image caches if they may have passed the limit."""
        limit = image_cache_limit(root)
        if limit is None:
            return
        with self._lock:
            if root not in self._estimate:
                self._estimate[root] = sum(entry.size for entry in scan(root))
            if self._estimate[root] <= limit:
                return
            prune(limit, root)
            self._estimate[root] = sum(entry.size for entry in scan(root))

    def forget(self, root: Path) -> None:
        with self._lock:
            self._estimate.pop(root, None)


JANITOR = _Janitor()
"""The process's janitor: caches report writes to it; archives ask it to check after a load."""
