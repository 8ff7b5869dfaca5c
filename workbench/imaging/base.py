"""What both archives share: retrieval through the on-disk caches, and stacking into a volume."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.errors import ArchiveError, DicomDataError
from workbench.files import atomic_write
from workbench.imaging.cache import JANITOR, InstanceCache, VolumeCache, image_cache_limit, server_key
from workbench.imaging.query import check_uid
from workbench.imaging.uids import is_uid, uid_file
from workbench.imaging.volume import Volume
from workbench.imaging.volume_files import volume_from_files
from workbench.imaging.wire import sop_instance_uid_from_dataset

if TYPE_CHECKING:
    from workbench.imaging.slides import Slide
    from workbench.imaging.slides.source import SlideSource

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstanceRef:
    """One instance of a series as an implementation addresses it."""

    sop_instance_uid: str
    handle: str
    """The implementation's own address (Orthanc's resource ID, or the SOPInstanceUID for DICOMweb)."""
    version: str = ""
    """What the server says about the stored file (Orthanc: its attachment UUID and size), ``""`` when it
    says nothing: a series deleted and stored again gets new versions, so its cached volume is not reused."""


@dataclass(frozen=True)
class SeriesRef:
    """Where a series is: its study and its instances."""

    series_uid: str
    study_uid: str
    """May be ``""`` until retrieval needs it (Orthanc reads it only then)."""
    instances: tuple[InstanceRef, ...] | None
    """``None`` until listed (:meth:`BaseArchive._listed`): a warm load, or a whole-series retrieval,
    does not need the list."""
    handle: str = ""
    """The implementation's own address of the series (Orthanc's resource ID)."""
    ambiguous: bool = False
    """The same series UID is also stored under another patient: retrieve instance by instance (by handle),
    never by UID."""
    count: int = 0
    """How many instances the server lists."""
    fingerprint: tuple[str, ...] = ()
    """What identifies the series' current content (Orthanc: its instances and LastUpdate); default: the
    listed instances and their versions."""

    def entry(self) -> str:
        """The volume-cache entry of the series as it is now (a series stored again gets a new one)."""
        parts = list(self.fingerprint) or [
            f"{ref.sop_instance_uid}:{ref.handle}:{ref.version}" for ref in self.instances or ()
        ]
        return VolumeCache.entry(self.series_uid, parts)


def _ignore(uid: str, data: bytes | memoryview, version: str) -> None:
    """A load does not cache instance files (its volume is cached instead)."""


def two_patients_error(series_uid: str, patient_ids: Iterable[str], url: str) -> DicomDataError:
    """The error for one series UID stored under several patients (naming them and how to choose)."""
    ids = sorted(set(patient_ids))
    shown = " and ".join(repr(i) for i in ids)
    return DicomDataError(
        f"series {series_uid} is stored under {len(ids)} patients on {url} (PatientID {shown}): the same "
        f"UIDs were stored for different patients and the archive keeps them apart; choose one with "
        f"load_series({series_uid!r}, patient_id={ids[0]!r})"
    )


WHOLE_SERIES_FRACTION = 0.25
"""Retrieve the whole series in one WADO-RS request when more than this fraction is missing from the cache;
below, fetch the missing instances one by one in parallel."""


class BaseArchive:
    """Retrieval, caching and stacking shared by both archives.

    Subclasses provide :meth:`_series_ref` (what instances a series has, found with one lookup, whose
    :meth:`SeriesRef.entry` fingerprints the series' current content), :meth:`_retrieve_series` (all files
    in one request) and :meth:`_retrieve_instance` (one file).
    """

    url: str

    def __init__(self, url: str, username: str | None, *, cache: bool) -> None:
        key = server_key(url, username)
        self.instance_cache = InstanceCache(key) if cache else None
        self.volume_cache = VolumeCache(key) if cache else None
        if cache:
            image_cache_limit()  # a malformed limit fails here, not after a long download

    # -- to implement ----------------------------------------------------------------------------------
    def _listed(self, series: SeriesRef) -> SeriesRef:
        """``series`` with its instances listed (default: it already has them)."""
        return series

    def _load_files(self, series: SeriesRef, workers: int) -> Iterator[tuple[str, bytes | memoryview]]:
        """The files of a series for a load, as they arrive (default: :meth:`_iter_files`, no caching)."""
        return self._iter_files(self._listed(series), progress=False, workers=workers, on_fetched=_ignore)

    def _series_ref(self, series_uid: str, patient_id: str | None = None) -> SeriesRef:
        """The series (of ``patient_id`` only, when given), found with one lookup.

        Raises
        ------
        NotFoundError
            No such series (of that patient).
        DicomDataError
            The series UID is stored under several patients and ``patient_id`` is not given
            (:func:`two_patients_error`).
        """
        raise NotImplementedError

    def _retrieve_series(self, series: SeriesRef, progress: bool) -> Iterator[tuple[str, bytes | memoryview]]:
        raise NotImplementedError

    def _retrieve_instance(self, series: SeriesRef, ref: InstanceRef) -> bytes:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------------
    def slides(self, **filters: Any) -> pd.DataFrame:
        """Whole-slide images matching ``filters``; see :func:`workbench.imaging.slides.slides_table`."""
        from workbench.imaging.slides import slides_table

        return slides_table(self, **filters)

    def slide_source(self) -> SlideSource:
        """How this archive reaches slides' metadata and frames (each archive kind builds its own).

        Raises
        ------
        ArchiveError
            This archive cannot serve slides.
        """
        raise ArchiveError(f"cannot read slides from {self.url}: {type(self).__name__} does not serve them")

    def open_slide(self, series_uid: str) -> Slide:
        """A whole-slide image, read region by region; see :func:`workbench.imaging.slides.open_slide`."""
        from workbench.imaging.slides import open_slide

        return open_slide(self, series_uid)

    def load_series(
        self,
        series_uid: str,
        *,
        patient_id: str | None = None,
        progress: bool = True,
        skip_bad: bool = False,
        workers: int = 8,
    ) -> Volume:
        """Retrieve a series and stack it into a :class:`~workbench.imaging.volume.Volume`.

        Instances come from the on-disk cache when there, else from the server (the whole series in one
        WADO-RS request with the stored transfer syntax, or the missing instances in parallel); a volume
        built before from exactly the same instances is read back at once.

        Parameters
        ----------
        series_uid
            SeriesInstanceUID: exactly one UID.
        patient_id
            Load the copy stored under this PatientID, when the archive keeps the same series UID under
            several patients (else that is an error naming them).
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
        QueryError
            ``series_uid`` is not exactly one UID (``''``, ``'A\\B'``).
        NotFoundError
            No such series.
        DicomDataError
            An instance is truncated, has no pixel data or cannot be decoded (naming it), unless
            ``skip_bad``; the slices do not form one volume (mixed orientations, duplicate positions); or
            the series UID is stored under several patients and ``patient_id`` does not choose one.
        ArchiveError
            The server failed.
        """
        series_uid = check_uid(series_uid, "series_uid")
        series = self._series_ref(series_uid, patient_id)  # the one lookup of the load
        entry = None
        if self.volume_cache is not None:
            entry = series.entry()
            cached = self.volume_cache.get(entry)
            if cached is not None:
                logger.info("series %s read from the volume cache", series_uid)
                return cached
        from workbench.progress import tqdm

        # Files are decoded as they arrive (the multipart answer is parsed while it streams in), their pixels
        # copied into one preallocated array and each file dropped once decoded. The volume is then written
        # to the cache by a background thread after we return (the data once: a load does not cache its
        # instance files; download_series does).
        crcs: list[int] = []  # the array's CRC-32, when taken slice by slice on the way
        with tqdm(total=series.count, desc="load", unit="img", disable=not progress) as bar:
            volume = volume_from_files(
                self._load_files(series, workers),
                skip_bad=skip_bad,
                workers=workers,
                progress=bar.update,
                expected=series.count or None,
                on_crc32=crcs.append,
            )
        volume.metadata["study_uid"] = volume.metadata.get("study_uid") or series.study_uid
        if self.volume_cache is not None and entry is not None and not volume.metadata["skipped"]:
            try:  # written, and the caches pruned to their limit, by a background thread
                self.volume_cache.put(entry, volume, background=True, crc32=crcs[0] if crcs else None)
            except OSError as exc:  # caching never fails a load
                logger.warning("could not cache the volume in %s: %s", self.volume_cache.folder, exc)
        return volume

    def _keep_cache_in_limit(self) -> None:
        if self.instance_cache is None:
            return
        try:
            JANITOR.check(self.instance_cache.root)
        except OSError as exc:  # pruning is housekeeping: it never fails a load
            logger.warning("could not prune the image cache in %s: %s", self.instance_cache.root, exc)

    def _cache_instance(self, uid: str, data: bytes | memoryview, version: str = "") -> None:
        if self.instance_cache is None or not is_uid(uid):  # a bad UID names no file (and no volume)
            return
        try:
            self.instance_cache.put(uid, data, version)
        except OSError as exc:  # a full or read-only disk must not fail the load
            logger.warning("could not cache instance %s in %s: %s", uid, self.instance_cache.folder, exc)

    def download_series(
        self, series_uid: str, folder: str | Path, *, patient_id: str | None = None
    ) -> list[Path]:
        """Write the files of a series, as stored, to ``folder/<SOPInstanceUID>.dcm``.

        File names come from the server: each is checked to be a UID naming a file directly inside
        ``folder`` (a SOPInstanceUID like ``../../x`` is refused, nothing is written outside).

        Parameters
        ----------
        series_uid
            SeriesInstanceUID: exactly one UID.
        folder
            Created if needed.
        patient_id
            As for :meth:`load_series`.

        Returns
        -------
        list of pathlib.Path
            One per instance.

        Raises
        ------
        QueryError
            ``series_uid`` is not exactly one UID.
        NotFoundError
            No such series.
        DicomDataError
            The server sent an instance whose SOPInstanceUID is not a UID (named); the files before it are
            written.
        """
        series_uid = check_uid(series_uid, "series_uid")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        series = self._listed(self._series_ref(series_uid, patient_id))
        assert series.instances is not None
        for ref in series.instances:  # refuse before writing anything
            uid_file(folder, ref.sop_instance_uid)
        paths = []
        for uid, data in self._iter_files(series, progress=False, workers=8, on_fetched=self._cache_instance):
            path = uid_file(folder, uid)
            atomic_write(path, data)
            paths.append(path)
        self._keep_cache_in_limit()
        return paths

    def _iter_files(
        self,
        series: SeriesRef,
        *,
        progress: bool,
        workers: int,
        on_fetched: Callable[[str, bytes | memoryview, str], None],
    ) -> Iterator[tuple[str, bytes | memoryview]]:
        """Yield ``(SOPInstanceUID, bytes)`` of every instance: cached ones first, then as they arrive.

        Those that come from the server are also passed to ``on_fetched`` with the server's version of the
        file (to cache them). A cached file that is cut, corrupted or stale is fetched again (with a
        :class:`~workbench.imaging.cache.CacheWarning`).

        Raises
        ------
        ArchiveError
            The server did not send every instance it lists.
        """
        assert series.instances is not None
        missing = []
        for ref in series.instances:
            # the cache is keyed by SOPInstanceUID: never for a series whose UIDs two patients share
            cache = None if series.ambiguous or not is_uid(ref.sop_instance_uid) else self.instance_cache
            stored = cache.get(ref.sop_instance_uid, ref.version) if cache is not None else None
            if stored is None:
                missing.append(ref)
            else:
                yield ref.sop_instance_uid, stored
        if not missing:
            return
        logger.info(
            "series %s: %d of %d instances to retrieve",
            series.series_uid,
            len(missing),
            len(series.instances),
        )
        if not series.ambiguous and len(missing) > WHOLE_SERIES_FRACTION * len(series.instances):
            answers: Iterable[tuple[str, bytes | memoryview]] = self._retrieve_series(series, progress)
        else:
            answers = self._retrieve_each(series, missing, progress, workers)
        wanted = {ref.sop_instance_uid for ref in missing}
        versions = {ref.sop_instance_uid: ref.version for ref in missing}
        for uid, data in answers:
            if uid not in wanted:  # a Part 10 header naming another UID than its data set
                uid = sop_instance_uid_from_dataset(data)
            if uid in wanted:
                wanted.discard(uid)
                if not series.ambiguous:
                    on_fetched(uid, data, versions[uid])
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
