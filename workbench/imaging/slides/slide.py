"""A whole-slide image in the archive, read region by region: ``archive.open_slide(series_uid)``.

Why our own reader rather than wsidicom's DICOMweb source: wsidicom 0.36 refuses slides without
``ImageType`` (Debian's ``OrthancWSIDicomizer`` output, "Level files not found"), and it would bypass the
workbench's on-disk cache and its size limit. So the tile layout is read from the series metadata
(:mod:`~workbench.imaging.slides.pyramid`), and a region fetches only the frames it overlaps and that are not
cached yet, as lists of frames per instance that the archive's source plans
(:mod:`~workbench.imaging.slides.source`: WADO-RS frame-list requests on a DICOMweb archive, Orthanc's
one-frame route on an Orthanc archive), the lists in parallel (:data:`WORKERS`), each frame decoded as soon as
it arrives. wsidicom stays the reference the tests and the benchmark compare with.

Coordinates follow OpenSlide and MONAI: ``location`` is ``(x, y)`` in pixels of level 0, ``size`` is
``(width, height)`` in pixels of the level read. A region partly outside the slide is padded with white
(255); one wholly outside raises :class:`RegionError`.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import DicomDataError, NotFoundError, WorkbenchError
from workbench.imaging.slides.frames import FrameCache, decode_frame
from workbench.imaging.slides.pyramid import (
    WSI_SOP_CLASS,
    FrameRef,
    Level,
    SlideDescription,
    build_levels,
    describe,
)
from workbench.imaging.slides.source import SlideSource, source_of

logger = logging.getLogger(__name__)

WORKERS = 4
"""Frame lists (:meth:`~workbench.imaging.slides.source.SlideSource.plan`) fetched at once."""
DECODERS = max(2, min(8, os.cpu_count() or 2))
"""Threads decoding tiles."""
OUTSIDE = 255
"""Value of pixels outside the slide or of tiles the slide lacks."""
MEMORY_TILES = 256
"""Decoded tiles a slide keeps in memory (about 50 MB of 256-pixel RGB tiles), most recently used first:
neighbouring patches and pans re-read the same tiles."""

SLIDE_COLUMNS = {
    "series_uid": "str",
    "study_uid": "str",
    "patient_id": "str",
    "patient_name": "str",
    "series_description": "str",
    "specimen": "str",
    "stain": "str",
    "levels": "int64",
    "width": "int64",
    "height": "int64",
    "mpp_x": "float64",
    "mpp_y": "float64",
    "series_date": "datetime64[ns]",
}
"""Columns of :func:`slides_table`: size in pixels and spacing in µm/pixel of level 0."""


class RegionError(WorkbenchError, ValueError):
    """A region or tile that is not on the slide (or has no size)."""


class NotASlideError(DicomDataError):
    """A series that is not a whole-slide image."""


@dataclass
class ReadStats:
    """What a slide has fetched so far (for tests and benchmarks).

    ``requests`` counts frame lists fetched: one WADO-RS request each, or on Orthanc's one-frame route one
    connection asking its frames one by one.
    """

    requests: int = 0
    frames_fetched: int = 0
    frames_cached: int = 0
    tiles_in_memory: int = 0


class Slide:
    """One whole-slide image of an archive.

    Made by :func:`open_slide` (``archive.open_slide(series_uid)``).

    Attributes
    ----------
    series_uid, study_uid
        The slide's series and study.
    levels
        :class:`~workbench.imaging.slides.pyramid.Level` list, finest first (``size``, ``pixel_spacing_um``,
        ``downsample``, ``tile_width``/``tile_height``).
    description
        Patient, specimen and stain.
    stats
        Requests and frames fetched so far.
    metadata
        The instances' metadata (pydicom datasets without pixel data).
    """

    def __init__(
        self,
        source: SlideSource,
        description: SlideDescription,
        levels: list[Level],
        *,
        cache: FrameCache | None = None,
        after_fetch: Any = None,
        metadata: list[Any] | None = None,
    ) -> None:
        self.source = source
        self.description = description
        self.series_uid = description.series_uid
        self.study_uid = description.study_uid
        self.levels = levels
        self.cache = cache
        self.metadata = metadata or []
        self.stats = ReadStats()
        self._after_fetch = after_fetch
        self._lock = threading.Lock()
        self._memory: OrderedDict[FrameRef, np.ndarray] = OrderedDict()

    def __repr__(self) -> str:
        width, height = self.dimensions
        return f"Slide({self.series_uid!r}, {width}x{height}, {len(self.levels)} levels)"

    @property
    def dimensions(self) -> tuple[int, int]:
        """``(width, height)`` of level 0."""
        return self.levels[0].size

    @property
    def mpp(self) -> tuple[float, float] | None:
        """µm per pixel ``(x, y)`` at level 0."""
        return self.levels[0].pixel_spacing_um

    def level(self, level: int) -> Level:
        """Level ``level`` (negative counts from the coarsest).

        Raises
        ------
        RegionError
            No such level.
        """
        try:
            return self.levels[level]
        except (IndexError, TypeError):
            raise RegionError(
                f"slide {self.series_uid} has levels 0..{len(self.levels) - 1}, not {level!r}"
            ) from None

    def best_level(self, downsample: float) -> int:
        """The coarsest level whose downsample does not exceed ``downsample`` (OpenSlide's rule)."""
        best = 0
        for level in self.levels:
            if level.downsample <= downsample + 1e-9:
                best = level.index
        return best

    # -- reading -----------------------------------------------------------------------------------------
    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """Pixels of a region as ``(height, width, 3)`` uint8 RGB.

        Parameters
        ----------
        location
            ``(x, y)`` of the top-left corner in level-0 pixels (as OpenSlide and MONAI).
        level
            The level to read from.
        size
            ``(width, height)`` in pixels of that level.

        Returns
        -------
        numpy.ndarray

        Raises
        ------
        RegionError
            No such level, a size that is not positive, or a region wholly outside the slide (a region
            partly outside is padded with white).
        ArchiveError
            The server failed or did not send a frame (naming it and its instance).
        DicomDataError
            A frame cannot be decoded (naming it and its instance).
        """
        lvl = self.level(level)
        x0 = math.floor(int(location[0]) / lvl.downsample + 1e-9)
        y0 = math.floor(int(location[1]) / lvl.downsample + 1e-9)
        return self._read_level(lvl, x0, y0, int(size[0]), int(size[1]))

    def read_level_region(self, level: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        """Like :meth:`read_region`, with ``(x, y)`` in pixels of ``level`` itself."""
        return self._read_level(self.level(level), int(x), int(y), int(width), int(height))

    def tile(self, level: int, col: int, row: int) -> np.ndarray:
        """Tile ``(col, row)`` of a level, cut to the slide (border tiles are smaller).

        Raises
        ------
        RegionError
            No such level or tile.
        """
        lvl = self.level(level)
        columns, rows = lvl.grid
        if not (0 <= col < columns and 0 <= row < rows):
            raise RegionError(
                f"level {lvl.index} of slide {self.series_uid} has tiles (0..{columns - 1}, 0..{rows - 1}), "
                f"not ({col}, {row})"
            )
        x, y = col * lvl.tile_width, row * lvl.tile_height
        width, height = min(lvl.tile_width, lvl.width - x), min(lvl.tile_height, lvl.height - y)
        return self._read_level(lvl, x, y, width, height)

    def thumbnail(self, max_size: int | tuple[int, int] = 512) -> np.ndarray:
        """The whole slide scaled to fit ``max_size`` (read from the smallest level that is large enough)."""
        from PIL import Image

        limit = (max_size, max_size) if isinstance(max_size, int) else tuple(max_size)
        if min(limit) < 1:
            raise RegionError(f"thumbnail size must be positive, got {max_size!r}")
        chosen = self.levels[0]
        for level in self.levels:
            if level.width >= limit[0] or level.height >= limit[1]:
                chosen = level
        array = self._read_level(chosen, 0, 0, chosen.width, chosen.height)
        scale = min(limit[0] / chosen.width, limit[1] / chosen.height, 1.0)
        if scale >= 1.0:
            return array
        target = (max(1, round(chosen.width * scale)), max(1, round(chosen.height * scale)))
        return np.asarray(Image.fromarray(array).resize(target, Image.Resampling.LANCZOS))

    def base_dataset(self) -> Any:
        """Metadata of the first instance of level 0 (what results on the slide reference)."""
        tiles = self.levels[0].tiles
        first = tiles.get((0, 0)) or next(iter(tiles.values()))
        for ds in self.metadata:
            if str(ds.SOPInstanceUID) == first.sop_instance_uid:
                return ds
        raise DicomDataError(f"slide {self.series_uid}: no metadata for instance {first.sop_instance_uid}")

    def viewer_url(self) -> str | None:
        """The slide in the server's own WSI viewer, or ``None`` (see :meth:`viewer_note`)."""
        return self.source.viewer_url(self.series_uid)

    def viewer_note(self) -> str:
        """Why :meth:`viewer_url` is ``None`` (empty when there is a viewer)."""
        return self.source.viewer_note()

    # -- internals ---------------------------------------------------------------------------------------
    def _read_level(self, lvl: Level, x0: int, y0: int, width: int, height: int) -> np.ndarray:
        if width < 1 or height < 1:
            raise RegionError(f"region size must be positive, got {width}x{height}")
        if x0 >= lvl.width or y0 >= lvl.height or x0 + width <= 0 or y0 + height <= 0:
            raise RegionError(
                f"region ({x0}, {y0}) {width}x{height} is outside level {lvl.index} of slide "
                f"{self.series_uid} ({lvl.width}x{lvl.height} pixels)"
            )
        out = np.full((height, width, 3), OUTSIDE, dtype=np.uint8)
        tw, th = lvl.tile_width, lvl.tile_height
        first_col, first_row = max(x0, 0) // tw, max(y0, 0) // th
        last_col = (min(x0 + width, lvl.width) - 1) // tw
        last_row = (min(y0 + height, lvl.height) - 1) // th
        wanted = {
            (c, r): lvl.tiles[(c, r)]
            for r in range(first_row, last_row + 1)
            for c in range(first_col, last_col + 1)
            if (c, r) in lvl.tiles
        }
        decoded = self._tiles(lvl, wanted.values())
        for (c, r), ref in wanted.items():
            tile = decoded[ref]
            tx, ty = c * tw, r * th
            # the part of this tile inside both the region and the image
            left, top = max(tx, x0, 0), max(ty, y0, 0)
            right = min(tx + tw, x0 + width, lvl.width)
            bottom = min(ty + th, y0 + height, lvl.height)
            out[top - y0 : bottom - y0, left - x0 : right - x0] = tile[
                top - ty : bottom - ty, left - tx : right - tx
            ]
        return out

    def _tiles(self, lvl: Level, refs: Iterable[FrameRef]) -> dict[FrameRef, np.ndarray]:
        """Decoded tiles: from memory, from the disk cache, or fetched in frame-list requests run in parallel;
        each frame is decoded in a pool of threads (the decoders release the GIL) as soon as it arrives."""
        result: dict[FrameRef, np.ndarray] = {}
        encoded: dict[FrameRef, bytes] = {}
        missing: dict[str, list[int]] = {}
        for ref in refs:
            with self._lock:
                if ref in self._memory:
                    self._memory.move_to_end(ref)
                    result[ref] = self._memory[ref]
                    self.stats.tiles_in_memory += 1
                    continue
            data = self.cache.get(ref.sop_instance_uid, ref.frame) if self.cache is not None else None
            if data is None:
                missing.setdefault(ref.sop_instance_uid, []).append(ref.frame)
            else:
                encoded[ref] = data
                self.stats.frames_cached += 1
        fetched: dict[FrameRef, bytes] = {}
        futures: dict[FrameRef, Future[np.ndarray]] = {}
        decoders = _pool("decode")

        def fetch(batch: tuple[str, list[int]]) -> None:
            uid, numbers = batch
            # each frame is decoded while the rest of the answer is still arriving
            arriving = self.source.iter_frames(self.study_uid, self.series_uid, uid, numbers)
            for index, data in enumerate(arriving):
                ref = FrameRef(uid, numbers[index])
                future = decoders.submit(self._decode, lvl, ref, data)
                with self._lock:
                    fetched[ref] = data
                    futures[ref] = future
            with self._lock:
                self.stats.requests += 1
                self.stats.frames_fetched += len(numbers)

        for ref, data in encoded.items():
            futures[ref] = decoders.submit(self._decode, lvl, ref, data)
        fetches = [_pool("fetch").submit(fetch, batch) for batch in _batches(self.source, missing)]
        wait(fetches)
        failed = next((f.exception() for f in fetches if f.exception() is not None), None)
        if failed is not None:  # no decoding is left running behind the error
            for future in futures.values():
                future.cancel()
            wait(futures.values())
            raise failed
        result.update((ref, future.result()) for ref, future in futures.items())
        if self.cache is not None and fetched:  # after decoding: a corrupt frame is never kept
            self.cache.put_later(
                {(ref.sop_instance_uid, ref.frame): data for ref, data in fetched.items()}, self._after_fetch
            )
        elif fetched and self._after_fetch is not None:
            self._after_fetch()
        self._remember(result)
        return result

    def _remember(self, tiles: dict[FrameRef, np.ndarray]) -> None:
        with self._lock:
            for ref, tile in tiles.items():
                self._memory[ref] = tile
                self._memory.move_to_end(ref)
            while len(self._memory) > MEMORY_TILES:
                self._memory.popitem(last=False)

    def _decode(self, lvl: Level, ref: FrameRef, data: bytes) -> np.ndarray:
        return decode_frame(
            data,
            rows=lvl.tile_height,
            columns=lvl.tile_width,
            photometric=self.description.photometric,
            what=f"frame {ref.frame} of instance {ref.sop_instance_uid} (slide {self.series_uid})",
        )


_POOLS: dict[str, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _forget_pools() -> None:
    """In a forked child (a DataLoader worker) the parent's threads are gone: start new ones when needed."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools)


def _pool(kind: str) -> ThreadPoolExecutor:
    """The process's threads for ``kind`` ``"fetch"`` or ``"decode"``, started once (starting threads for
    every region costs milliseconds). Fetches only queue decodes, never wait for them: no deadlock."""
    with _POOLS_LOCK:
        if kind not in _POOLS:
            workers = WORKERS if kind == "fetch" else DECODERS
            _POOLS[kind] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"slide-{kind}")
        return _POOLS[kind]


def _batches(source: SlideSource, missing: dict[str, list[int]]) -> list[tuple[str, list[int]]]:
    """The frame lists to fetch: per instance, as the source plans them (frames sorted)."""
    return [(uid, part) for uid, numbers in missing.items() for part in source.plan(sorted(numbers))]


# -- archive entry points -----------------------------------------------------------------------------------
def _series_row(archive: Any, series_uid: str) -> dict[str, Any]:
    found = archive.series(series_uid=series_uid)
    if found.empty:
        raise NotFoundError(f"series {series_uid} not found on {archive.url}")
    return found.iloc[0].to_dict()


def open_slide(archive: Any, series_uid: str) -> Slide:
    """Open a slide of ``archive`` (what ``archive.open_slide(series_uid)`` calls).

    One series lookup and the metadata: on a DICOMweb archive one request, on an Orthanc archive one lookup
    of the instances' Orthanc IDs and their ``/tags``; no pixels are read until asked for.

    Raises
    ------
    NotFoundError
        No such series.
    NotASlideError
        The series holds no whole-slide image (the message says what it holds).
    ArchiveError
        The server failed, or cannot serve DICOMweb.
    """
    row = _series_row(archive, series_uid)
    source = source_of(archive)
    datasets = source.metadata(row["study_uid"], series_uid)
    _require_slide(series_uid, datasets, row)
    source.prepare(row["study_uid"], series_uid)
    levels = build_levels(datasets, what=f"slide {series_uid}")
    cache = None
    if getattr(archive, "instance_cache", None) is not None:
        from workbench.imaging.cache import server_key

        cache = FrameCache(archive.instance_cache.root, server_key(archive.url, _username(archive)))
    after = getattr(archive, "_keep_cache_in_limit", None)
    return Slide(
        source, describe(datasets, series_uid), levels, cache=cache, after_fetch=after, metadata=datasets
    )


def _username(archive: Any) -> str | None:
    client = getattr(archive, "client", None)
    return getattr(client, "username", None) or getattr(archive, "username", None)


def _require_slide(series_uid: str, datasets: list[Any], row: dict[str, Any]) -> None:
    if any(str(ds.get("SOPClassUID", "")) == WSI_SOP_CLASS for ds in datasets):
        return
    from pydicom.uid import UID

    classes = sorted({str(ds.get("SOPClassUID", "")) for ds in datasets})
    names = ", ".join(UID(c).name for c in classes if c) or "no instances"
    raise NotASlideError(
        f"series {series_uid} is not a whole-slide image: it holds {row.get('modality') or '?'} "
        f"({names}); find slides with archive.slides() or 'workbench slides'"
    )


def slides_table(archive: Any, *, workers: int = 4, **filters: Any) -> pd.DataFrame:
    """The slides of ``archive`` matching ``filters`` (what ``archive.slides(...)`` calls).

    Parameters
    ----------
    archive
        Either kind of archive.
    workers
        Metadata requests in flight.
    **filters
        The series filters of :mod:`workbench.imaging.query` (patient_name, patient_id, study_date,
        study_uid, series_uid, description, limit); the modality is ``SM``.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`SLIDE_COLUMNS`, one row per slide.

    Raises
    ------
    QueryError
        An unknown or malformed filter (``modality`` is fixed).
    """
    from workbench.imaging.query import QueryError

    if "modality" in filters:
        raise QueryError("slides() searches modality SM itself; leave out modality=")
    series = archive.series(modality="SM", **filters)
    source = source_of(archive)

    def row(item: dict[str, Any]) -> dict[str, Any] | None:
        datasets = source.metadata(item["study_uid"], item["series_uid"])
        try:
            levels = build_levels(datasets, what=f"slide {item['series_uid']}")
        except DicomDataError as exc:
            logger.warning("leaving out series %s: %s", item["series_uid"], exc)
            return None
        info = describe(datasets, item["series_uid"])
        spacing = levels[0].pixel_spacing_um or (math.nan, math.nan)
        return {
            "series_uid": item["series_uid"],
            "study_uid": item["study_uid"],
            "patient_id": item["patient_id"] or info.patient_id,
            "patient_name": info.patient_name,
            "series_description": item["series_description"],
            "specimen": info.specimen,
            "stain": info.stain,
            "levels": len(levels),
            "width": levels[0].width,
            "height": levels[0].height,
            "mpp_x": spacing[0],
            "mpp_y": spacing[1],
            "series_date": item["series_date"],
        }

    items = series.to_dict("records")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        rows = [r for r in pool.map(row, items) if r is not None]
    frame = pd.DataFrame(rows, columns=list(SLIDE_COLUMNS))
    for name, dtype in SLIDE_COLUMNS.items():
        frame[name] = frame[name].astype(dtype) if len(frame) else pd.Series(dtype=dtype)
    return frame.sort_values(["patient_id", "series_uid"], ignore_index=True)


__all__ = [
    "NotASlideError",
    "ReadStats",
    "RegionError",
    "Slide",
    "open_slide",
    "slides_table",
]
