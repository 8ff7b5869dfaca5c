"""What both archives share: retrieval through the on-disk caches, and stacking into a volume."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import ArchiveError
from workbench.imaging.cache import JANITOR, InstanceCache, VolumeCache, image_cache_limit, server_key
from workbench.imaging.volume import Volume, volume_from_files
from workbench.imaging.wire import sop_instance_uid_from_dataset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstanceRef:
    """One instance of a series as an implementation addresses it."""

    sop_instance_uid: str
    handle: str
    """The implementation's own address (Orthanc's resource ID, or the SOPInstanceUID for DICOMweb)."""


@dataclass(frozen=True)
class SeriesRef:
    """Where a series is: its study and its instances."""

    series_uid: str
    study_uid: str
    instances: tuple[InstanceRef, ...]


WHOLE_SERIES_FRACTION = 0.25
"""Retrieve the whole series in one WADO-RS request when more than this fraction is missing from the cache;
below, fetch the missing instances one by one in parallel."""


class BaseArchive:
    """Retrieval, caching and stacking shared by both archives.

    Subclasses provide :meth:`_series_ref` (what instances a series has), :meth:`_volume_entry` (a cheap
    fingerprint of the series' current content), :meth:`_retrieve_series` (all files in one request) and
    :meth:`_retrieve_instance` (one file).
    """

    url: str

    def __init__(self, url: str, username: str | None, *, cache: bool) -> None:
        key = server_key(url, username)
        self.instance_cache = InstanceCache(key) if cache else None
        self.volume_cache = VolumeCache(key) if cache else None
        if cache:
            image_cache_limit()  # a malformed limit fails here, not after a long download

    # -- to implement ----------------------------------------------------------------------------------
    def _series_ref(self, series_uid: str) -> SeriesRef:
        raise NotImplementedError

    def _volume_entry(self, series_uid: str) -> tuple[str, SeriesRef | None]:
        """The volume-cache entry of the series as it is now (and its :class:`SeriesRef` if computed)."""
        raise NotImplementedError

    def _retrieve_series(
        self, series: SeriesRef, progress: bool
    ) -> Iterator[tuple[str, bytes | memoryview]]:
        raise NotImplementedError

    def _retrieve_instance(self, series: SeriesRef, ref: InstanceRef) -> bytes:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------------
    def load_series(
        self, series_uid: str, *, progress: bool = True, skip_bad: bool = False, workers: int = 8
    ) -> Volume:
        """Retrieve a series and stack it into a :class:`~workbench.imaging.volume.Volume`.

        Instances come from the on-disk cache when there, else from the server (the whole series in one
        WADO-RS request with the stored transfer syntax, or the missing instances in parallel); a volume
        built before from exactly the same instances is read back at once.

        Parameters
        ----------
        series_uid
            SeriesInstanceUID.
        progress
            Show tqdm progress bars.
        skip_bad
            Leave out instances that cannot be read or decoded, listing them in ``metadata["skipped"]``
            (and warning), instead of failing.
        workers
            Parallel downloads and decodes.

        Returns
        -------
        Volume

        Raises
        ------
        NotFoundError
            No such series.
        DicomDataError
            An instance is truncated, has no pixel data or cannot be decoded (naming it), unless
            ``skip_bad``; or the slices do not form one volume (mixed orientations, duplicate positions).
        ArchiveError
            The server failed.
        """
        entry, series = None, None
        if self.volume_cache is not None:
            entry, series = self._volume_entry(series_uid)
            cached = self.volume_cache.get(entry)
            if cached is not None:
                logger.info("series %s read from the volume cache", series_uid)
                return cached
        series = series or self._series_ref(series_uid)
        from workbench.progress import tqdm

        # Files are decoded as they arrive (the multipart answer is parsed while it streams in) and written to
        # the cache by a background thread meanwhile; the writes end before we return.
        with (
            tqdm(total=len(series.instances), desc="load", unit="img", disable=not progress) as bar,
            ThreadPoolExecutor(max_workers=1) as writer,
        ):

            def keep(uid: str, data: bytes | memoryview) -> None:
                writer.submit(self._cache_instance, uid, data)

            files = self._iter_files(series, progress=False, workers=workers, on_fetched=keep)
            volume = volume_from_files(files, skip_bad=skip_bad, workers=workers, progress=bar.update)
            volume.metadata["study_uid"] = volume.metadata.get("study_uid") or series.study_uid
            if self.volume_cache is not None and entry is not None and not volume.metadata["skipped"]:
                writer.submit(self._cache_volume, entry, volume)
        self._keep_cache_in_limit()
        return volume

    def _keep_cache_in_limit(self) -> None:
        if self.instance_cache is None:
            return
        try:
            JANITOR.check(self.instance_cache.root)
        except OSError as exc:  # pruning is housekeeping: it never fails a load
            logger.warning("could not prune the image cache in %s: %s", self.instance_cache.root, exc)

    def _cache_instance(self, uid: str, data: bytes | memoryview) -> None:
        if self.instance_cache is None:
            return
        try:
            self.instance_cache.put(uid, data)
        except OSError as exc:  # a full or read-only disk must not fail the load
            logger.warning("could not cache instance %s in %s: %s", uid, self.instance_cache.folder, exc)

    def _cache_volume(self, entry: str, volume: Volume) -> None:
        assert self.volume_cache is not None
        try:
            self.volume_cache.put(entry, volume)
        except OSError as exc:
            logger.warning("could not cache the volume in %s: %s", self.volume_cache.folder, exc)

    def download_series(self, series_uid: str, folder: str | Path) -> list[Path]:
        """Write the files of a series, as stored, to ``folder/<SOPInstanceUID>.dcm``.

        Parameters
        ----------
        series_uid
            SeriesInstanceUID.
        folder
            Created if needed.

        Returns
        -------
        list of pathlib.Path
            One per instance.

        Raises
        ------
        NotFoundError
            No such series.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        series = self._series_ref(series_uid)
        paths = []
        for uid, data in self._iter_files(series, progress=False, workers=8, on_fetched=self._cache_instance):
            path = folder / f"{uid}.dcm"
            path.write_bytes(data)
            paths.append(path)
        self._keep_cache_in_limit()
        return paths

    def _iter_files(
        self,
        series: SeriesRef,
        *,
        progress: bool,
        workers: int,
        on_fetched: Callable[[str, bytes | memoryview], None],
    ) -> Iterator[tuple[str, bytes | memoryview]]:
        """Yield ``(SOPInstanceUID, bytes)`` of every instance: cached ones first, then as they arrive.

        Those that come from the server are also passed to ``on_fetched`` (to cache them).

        Raises
        ------
        ArchiveError
            The server did not send every instance it lists.
        """
        missing = []
        for ref in series.instances:
            cached = self.instance_cache.get(ref.sop_instance_uid) if self.instance_cache else None
            if cached is None:
                missing.append(ref)
            else:
                yield ref.sop_instance_uid, cached
        if not missing:
            return
        logger.info(
            "series %s: %d of %d instances to retrieve",
            series.series_uid,
            len(missing),
            len(series.instances),
        )
        if len(missing) > WHOLE_SERIES_FRACTION * len(series.instances):
            answers: Iterable[tuple[str, bytes | memoryview]] = self._retrieve_series(series, progress)
        else:
            answers = self._retrieve_each(series, missing, progress, workers)
        wanted = {ref.sop_instance_uid for ref in missing}
        for uid, data in answers:
            if uid not in wanted:  # a Part 10 header naming another UID than its data set
                uid = sop_instance_uid_from_dataset(data)
            if uid in wanted:
                wanted.discard(uid)
                on_fetched(uid, data)
                yield uid, data
        if wanted:
            raise ArchiveError(
                f"{self.url} did not send {len(wanted)} instance(s) of series "
                f"{series.series_uid}, e.g. {sorted(wanted)[0]}"
            )

    def _retrieve_each(
        self, series: SeriesRef, refs: list[InstanceRef], progress: bool, workers: int
    ) -> list[tuple[str, bytes]]:
        from workbench.progress import tqdm

        def one(ref: InstanceRef) -> bytes:
            return self._retrieve_instance(series, ref)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            datas = list(
                tqdm(
                    pool.map(one, refs),
                    total=len(refs),
                    desc="retrieve",
                    unit="file",
                    disable=not progress,
                    leave=False,
                )
            )
        return [(ref.sop_instance_uid, data) for ref, data in zip(refs, datas, strict=True)]
