"""The ``Archive`` interface, ``connect()``, and what both implementations share.

One interface, two implementations (the dicomweb-client pattern of one protocol with interchangeable
clients):

- :class:`~workbench.imaging.orthanc.OrthancArchive` uses Orthanc's REST API where it is faster
  (``/tools/find`` with ``Expand``: one call per level and page) and DICOMweb WADO-RS to retrieve pixels;
- :class:`~workbench.imaging.dicomweb.DicomWebArchive` speaks plain DICOMweb (QIDO-RS, WADO-RS, STOW-RS)
  through dicomweb-client, for any server (dcm4chee, Google Healthcare, AWS HealthImaging, Orthanc).

Both return the same pandas tables (columns and dtypes in :data:`COLUMNS`) and the same
:class:`~workbench.imaging.volume.Volume`, and share retrieval, caching and stacking through
:class:`BaseArchive`.
"""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import pandas as pd

from workbench.errors import ArchiveError, DicomDataError, NotFoundError
from workbench.imaging.cache import JANITOR, InstanceCache, VolumeCache, image_cache_limit, server_key
from workbench.imaging.names import split_person_name
from workbench.imaging.query import Level, check_uid
from workbench.imaging.rest import DEFAULT_RETRIES, DEFAULT_TIMEOUT
from workbench.imaging.uids import is_uid, uid_file
from workbench.imaging.volume import Volume, volume_from_files

F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger(__name__)

_NAME_COLUMNS = {
    "patient_name": "str",
    "patient_name_alphabetic": "str",
    "patient_name_ideographic": "str",
    "patient_name_phonetic": "str",
}

COLUMNS: dict[Level, dict[str, str]] = {
    Level.PATIENT: {
        "patient_id": "str",
        **_NAME_COLUMNS,
        "birth_date": "datetime64[ns]",
        "sex": "str",
        "n_studies": "int64",
    },
    Level.STUDY: {
        "study_uid": "str",
        "patient_id": "str",
        **_NAME_COLUMNS,
        "study_date": "datetime64[ns]",
        "study_time": "str",
        "study_description": "str",
        "accession_number": "str",
        "modalities": "str",
        "n_series": "int64",
    },
    Level.SERIES: {
        "series_uid": "str",
        "study_uid": "str",
        "patient_id": "str",
        "modality": "str",
        "series_number": "Int64",
        "series_description": "str",
        "body_part": "str",
        "n_instances": "int64",
        "series_date": "datetime64[ns]",
    },
    Level.INSTANCE: {
        "sop_instance_uid": "str",
        "series_uid": "str",
        "instance_number": "Int64",
        "sop_class_uid": "str",
    },
}
"""Columns of the search tables and their pandas dtypes, per level."""

SORT_KEYS: dict[Level, list[str]] = {
    Level.PATIENT: ["patient_id"],
    Level.STUDY: ["study_date"],
    Level.SERIES: ["study_uid", "series_number"],
    Level.INSTANCE: ["instance_number"],
}
"""How each table is ordered (servers answer in no particular order)."""


class Kind(StrEnum):
    """Which implementation :func:`connect` builds."""

    AUTO = "auto"
    ORTHANC = "orthanc"
    DICOMWEB = "dicomweb"


@dataclass(frozen=True)
class StoredInstance:
    """What the archive said about one stored instance."""

    source: str
    sop_instance_uid: str | None
    status: str


@runtime_checkable
class Archive(Protocol):
    """A DICOM archive seen as pandas tables and numpy volumes.

    Search methods take the filters of :mod:`workbench.imaging.query` and return a DataFrame with the
    columns of :data:`COLUMNS` for their level.
    """

    url: str

    def patients(self, **filters: Any) -> pd.DataFrame:
        """Patients matching ``filters``."""
        ...

    def studies(self, **filters: Any) -> pd.DataFrame:
        """Studies matching ``filters``."""
        ...

    def series(self, **filters: Any) -> pd.DataFrame:
        """Series matching ``filters``."""
        ...

    def instances(self, series_uid: str | None = None, **filters: Any) -> pd.DataFrame:
        """Instances of a series (or matching ``filters``)."""
        ...

    def load_series(
        self,
        series_uid: str,
        *,
        patient_id: str | None = None,
        progress: bool = True,
        skip_bad: bool = False,
        workers: int = 8,
    ) -> Volume:
        """A series as a :class:`~workbench.imaging.volume.Volume`."""
        ...

    def download_series(self, series_uid: str, folder: str | Path) -> list[Path]:
        """Write the stored files of a series into ``folder``."""
        ...

    def store(self, items: Iterable[str | Path | bytes | Any]) -> list[StoredInstance]:
        """Upload DICOM files, bytes or pydicom datasets."""
        ...

    def explorer_url(self, study_uid: str) -> str:
        """A web page showing the study."""
        ...


def connect(
    url: str | None = None,
    username: str | None = None,
    password: str | None = None,
    *,
    kind: str | Kind = Kind.AUTO,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    cache: bool = True,
) -> Archive:
    """Connect to a DICOM archive.

    Parameters
    ----------
    url, username, password
        Where the server is and how to log in. With no ``url``, the configured server is used
        (``WORKBENCH_ORTHANC_URL``/``_USER``/``_PASSWORD``, then the ``[orthanc]`` table of the config file).
    kind
        ``"orthanc"`` (REST fast paths), ``"dicomweb"`` (any DICOMweb server; for Orthanc give
        ``url + "/dicom-web"``) or ``"auto"``: Orthanc when ``/system`` answers as Orthanc does, else
        DICOMweb.
    timeout
        ``(connect, read)`` seconds for every request.
    retries
        Retries on connection errors and HTTP 502/503/504.
    cache
        Keep retrieved instances and decoded volumes on disk (``<cache folder>/dicom``, ``/volumes``).

    Returns
    -------
    Archive

    Raises
    ------
    ConfigError
        No URL given and none configured.
    ArchiveError, AuthenticationError
        The server cannot be reached or refuses the credentials (checked at once, with one request).
    """
    from workbench import config
    from workbench.errors import ArchiveError, ConfigError
    from workbench.imaging.rest import OrthancClient

    try:
        kind = Kind(kind)
    except ValueError:
        raise ArchiveError(f"kind {kind!r} is not one of {[k.value for k in Kind]}") from None
    if url is None:
        settings = config.orthanc_settings()
        if not settings.url:
            raise ConfigError(
                "no archive is configured; run 'workbench orthanc start' for a local Orthanc, or set "
                "WORKBENCH_ORTHANC_URL, WORKBENCH_ORTHANC_USER and WORKBENCH_ORTHANC_PASSWORD"
            )
        url, username, password = settings.url, settings.username, settings.password
    if kind is not Kind.DICOMWEB:
        client = OrthancClient(url, username, password, timeout=timeout, retries=retries)
        try:  # one authenticated request: unreachable servers and wrong passwords fail here, clearly
            system = client.get_json("/system", what=f"Orthanc's /system at {url}")
        except (NotFoundError, ValueError):  # 404 or not JSON: not Orthanc's REST API
            system = None
        if isinstance(system, dict) and "ApiVersion" in system:
            from workbench.imaging.orthanc import OrthancArchive

            return OrthancArchive(client, cache=cache)
        if kind is Kind.ORTHANC:
            raise ArchiveError(f"{url} does not answer /system as Orthanc does; use kind='dicomweb'")
        client.close()
    from workbench.imaging.dicomweb import DicomWebArchive

    archive = DicomWebArchive(url, username, password, timeout=timeout, retries=retries, cache=cache)
    archive.ping()
    return archive


def rows_to_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Turn a list of row dicts into a dict of columns (a missing key becomes ``None``)."""
    names = {key for row in rows for key in row}
    return {name: [row.get(name) for row in rows] for name in names}


def paused_gc(function: F) -> F:
    """Run ``function`` with Python's cyclic garbage collector paused (restored after, even on error).

    A search decodes tens of thousands of small dicts from JSON and builds a table of them; they hold no
    reference cycles, yet their allocation triggers full collections that walk the whole heap: measured up to
    70 ms of a 0.5 s search of 5,000 studies.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not gc.isenabled():  # nested, or the caller manages it
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()

    return wrapper  # type: ignore[return-value]


def make_frame(level: Level, values: dict[str, list[Any]]) -> pd.DataFrame:
    """Build a search table with the columns and dtypes of ``level``, ordered by :data:`SORT_KEYS`.

    ``values`` maps column names to lists of raw DICOM strings: dates as ``YYYYMMDD`` (anything else becomes
    ``NaT``), numbers as text, and ``patient_name`` as the full PN (its three groups are split into their
    own columns here). Missing columns are empty. Rows with equal sort keys keep the server's order.
    """
    columns = COLUMNS[level]
    length = len(next(iter(values.values()), []))
    data: dict[str, list[Any]] = {name: values.get(name) or [None] * length for name in columns}
    if "patient_name_alphabetic" in columns:
        names = data["patient_name"]
        split = {name: split_person_name(name) for name in set(names)}  # rows share patients: split once
        data["patient_name"] = ["=".join(split[name]).rstrip("=") for name in names]
        for index, group in enumerate(("alphabetic", "ideographic", "phonetic")):
            data[f"patient_name_{group}"] = [split[name][index] for name in names]
    frame = pd.DataFrame({name: _column(data[name], dtype) for name, dtype in columns.items()})
    keys = [k for k in SORT_KEYS[level] if k in frame]
    return frame.sort_values(keys, kind="stable", na_position="last", ignore_index=True)


def _column(values: list[Any], dtype: str) -> pd.Series:
    if dtype == "datetime64[ns]":
        texts = pd.Series([v[:8] if v else None for v in values], dtype="object")
        return pd.to_datetime(texts, format="%Y%m%d", errors="coerce").astype("datetime64[ns]")
    if dtype == "Int64":
        texts = pd.Series([None if v in (None, "") else v for v in values], dtype="object")
        return pd.to_numeric(texts, errors="coerce").astype("Int64")
    if dtype == "int64":
        return pd.Series([int(v or 0) for v in values], dtype="int64")
    return pd.Series(["" if v is None else v if isinstance(v, str) else str(v) for v in values], dtype="str")


# -- shared retrieval -------------------------------------------------------------------------------------
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

    def _retrieve_series(self, series: SeriesRef, progress: bool) -> Iterator[tuple[str, memoryview]]:
        raise NotImplementedError

    def _retrieve_instance(self, series: SeriesRef, ref: InstanceRef) -> bytes:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------------
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
        from tqdm.auto import tqdm

        # Files are decoded as they arrive (the multipart answer is parsed while it streams in), their pixels
        # copied into one preallocated array and each file dropped once decoded. The volume is then written
        # to the cache by a background thread after we return (the data once: a load does not cache its
        # instance files; download_series does).
        with tqdm(total=series.count, desc="load", unit="img", disable=not progress) as bar:
            volume = volume_from_files(
                self._load_files(series, workers),
                skip_bad=skip_bad,
                workers=workers,
                progress=bar.update,
                expected=series.count or None,
            )
        volume.metadata["study_uid"] = volume.metadata.get("study_uid") or series.study_uid
        if self.volume_cache is not None and entry is not None and not volume.metadata["skipped"]:
            try:  # written, and the caches pruned to their limit, by a background thread
                self.volume_cache.put(entry, volume, background=True)
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
        from workbench.files import atomic_write

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
        from workbench.imaging.dicomweb import sop_instance_uid_from_dataset

        assert series.instances is not None
        missing = []
        for ref in series.instances:
            # the cache is keyed by SOPInstanceUID: never for a series whose UIDs two patients share
            cached = self.instance_cache is not None and is_uid(ref.sop_instance_uid) and not series.ambiguous
            data = self.instance_cache.get(ref.sop_instance_uid, ref.version) if cached else None  # type: ignore[union-attr]
            if data is None:
                missing.append(ref)
            else:
                yield ref.sop_instance_uid, data
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
        from tqdm.auto import tqdm

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
