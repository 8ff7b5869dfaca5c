"""On-disk caches: DICOM instances keyed by server and SOPInstanceUID, and the volumes built from them.

Files live in ``<cache folder>/dicom/<server key>/<SOPInstanceUID>.dcm``, exactly as the server stored them
(no transcoding), so that a second :meth:`~workbench.imaging.archive.Archive.load_series` of the same series
reads from disk. The server key is a short hash of the server's URL and user: two servers never share
entries, and the folder name reveals neither. A SOPInstanceUID identifies one object for ever (DICOM
forbids reusing it for different content), so entries never go stale; :meth:`InstanceCache.clear` empties
the cache of one server.

The two image caches together are kept under a size limit (:func:`image_cache_limit`: by default half of the
disk they are on; ``WORKBENCH_IMAGE_CACHE_MAX_GB`` or ``[cache] images_max_gb`` in ``config.toml``, 0 for
none): after a load that wrote to them, the least recently used entries (a file, or a volume with its
geometry) are deleted until they hold 90 % of it. Reading an entry marks it used. The model-response cache
(``responses.sqlite``) is never touched: its entries are paid for.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench import config
from workbench.errors import ConfigError
from workbench.files import atomic_write

if TYPE_CHECKING:
    import pandas as pd

    from workbench.imaging.volume import Volume

logger = logging.getLogger(__name__)

_UID_RE = re.compile(r"^[0-9.]{1,64}$")
PART_PREFIX = ".part-"
"""Name prefix of files being written (left behind only by a crash)."""


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
        ValueError
            If the UID is not a DICOM UID (it becomes a file name, so it must be safe).
        """
        if not _UID_RE.match(sop_instance_uid):
            raise ValueError(f"{sop_instance_uid!r} is not a DICOM UID")
        return self.folder / f"{sop_instance_uid}.dcm"

    def get(self, sop_instance_uid: str) -> bytes | None:
        """The cached file's bytes (marking it used), or ``None`` when it is not cached."""
        path = self.path(sop_instance_uid)
        try:
            data = path.read_bytes()
            os.utime(path)
        except FileNotFoundError:  # also when evicted by another process meanwhile
            return None
        return data

    def __contains__(self, sop_instance_uid: str) -> bool:
        return self.path(sop_instance_uid).exists()

    def put(self, sop_instance_uid: str, data: bytes | memoryview) -> Path:
        """Store one file atomically (a reader never sees half a file) and return its path."""
        path = self.path(sop_instance_uid)
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data, prefix=PART_PREFIX)
        JANITOR.wrote(self.root, len(data))
        return path

    def clear(self) -> None:
        """Delete every cached file of this server."""
        shutil.rmtree(self.folder, ignore_errors=True)
        JANITOR.forget(self.root)


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
        """The cached volume, or ``None`` (also when the entry is unreadable, which is then removed)."""
        import json

        import numpy as np

        from workbench.imaging.volume import Volume

        array_path, info_path = self.folder / f"{entry}.npy", self.folder / f"{entry}.json"
        if not info_path.exists():
            return None
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
            array = np.load(array_path, allow_pickle=False)
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

    def put(self, entry: str, volume: Volume) -> Path:
        """Store a volume (``.npy`` array, then ``.json`` geometry, each atomically); return the array's path.

        A raw ``.npy`` rather than ``Volume.save``'s ``.npz``: zip's CRC makes writing several times slower.
        """
        import json

        import numpy as np

        self.folder.mkdir(parents=True, exist_ok=True)
        array_path, info_path = self.folder / f"{entry}.npy", self.folder / f"{entry}.json"
        info = {
            "spacing": list(volume.spacing),
            "origin": list(volume.origin),
            "direction": np.asarray(volume.direction).tolist(),
            "metadata": volume.metadata,
        }
        atomic_write(array_path, lambda fh: np.save(fh, volume.array, allow_pickle=False), prefix=PART_PREFIX)
        atomic_write(info_path, json.dumps(info, default=str).encode("utf-8"), prefix=PART_PREFIX)
        JANITOR.wrote(self.root, int(volume.array.nbytes))
        return array_path

    def clear(self) -> None:
        """Delete every cached volume of this server."""
        shutil.rmtree(self.folder, ignore_errors=True)
        JANITOR.forget(self.root)


# -- size limit ----------------------------------------------------------------------------------------------
IMAGE_FOLDERS = {"dicom": "instance", "volumes": "volume", "frames": "frame"}
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
    """``instance``, ``volume`` (array and geometry together), ``frame`` (one tile of a whole-slide image) or
    ``partial`` (a crash's leftover)."""
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
    for folder, kind in IMAGE_FOLDERS.items():
        base = root / folder
        if not base.is_dir():
            continue
        for server in os.scandir(base):
            if not server.is_dir(follow_symlinks=False):
                continue
            groups: dict[str, list[tuple[Path, os.stat_result]]] = {}
            for item in os.scandir(server.path):
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
