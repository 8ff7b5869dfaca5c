"""How a slide reaches the server, on either kind of archive.

Metadata: on a DICOMweb archive the series metadata (``.../series/{uid}/metadata``, DICOM JSON); on an
Orthanc archive each instance's ``/instances/{id}/tags``, converted by
:mod:`~workbench.imaging.slides.orthanc_tags` (the DICOMweb plugin reads every whole file to answer the
series metadata; see that module), the series metadata only where the conversion cannot give all the
workbench reads. Frames come as stored (JPEG stays JPEG), each decoded as soon as it has arrived:

- :class:`DicomWebSource` (a :class:`~workbench.imaging.dicomweb.DicomWebArchive`): WADO-RS frame lists
  (``.../instances/{uid}/frames/1,2,3`` with ``transfer-syntax=*``), as few requests as
  :data:`FRAMES_PER_REQUEST` allows; the multipart answer is split by
  :func:`workbench.imaging.wire.iter_multipart` while it arrives.
- :class:`OrthancSource` (an :class:`~workbench.imaging.orthanc.OrthancArchive`): Orthanc's own route
  ``GET /instances/{orthanc-id}/frames/{n}/raw`` (``n`` from 0), one frame per request, on kept-alive
  connections (:mod:`~workbench.imaging.slides.connections`). The series' Orthanc instance IDs are looked up
  once, when the slide is opened (:meth:`OrthancSource.prepare`).

Why not WADO-RS on Orthanc: for every frame-list request, Orthanc's DICOMweb plugin (1.7, on Orthanc 1.10.1)
reads the whole instance file and parses it, so a region costs about as much as the whole instance. Orthanc's
own route goes through its parsed-DICOM cache (128 MB; a larger file is kept as its single entry): the first
frame of an instance costs one read and parse of the file, every later frame a fraction of a millisecond.
Measured on one machine (loopback, 2 cores; a 16384x16384 slide, level 0 one 57 MB instance of 4096 JPEG
tiles, a 2048x2048 region = 81 tiles): WADO-RS, the 81 frames in one request 140-200 ms, the whole instance
190-250 ms; Orthanc's route, the first frame on a freshly started Orthanc 60-65 ms (its read and parse; the
same after the ``/tags`` requests of the metadata, 33 ms after a DICOMweb series metadata request, which has
read the file already), the other 80 frames 6.6 ms on one connection. ``bench/pathology.py``: the region read
with decoding 23-27 ms once Orthanc has parsed the instance, 97 ms on a restarted Orthanc (83 ms when the
metadata came over DICOMweb; the WADO-RS region 150 ms either way). At 8192x8192 (14 MB): first frame 16 ms,
the region 25-31 / 51 ms (40 ms with the metadata over DICOMweb), over WADO-RS 24-30 ms. So a region's frames
are asked one instance at a time like this: its first frame alone (concurrent first requests would each parse
the file; a lock per instance keeps them one at a time, also across regions read at once), then the rest on up
to :data:`STREAMS` connections (:meth:`OrthancSource.plan`; on loopback one connection is as fast, since
decoding the tiles takes longer than fetching them, but a remote server's round trips are hidden by several).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol

from pydicom.dataset import Dataset

from workbench.errors import ArchiveError, AuthenticationError, NotFoundError, WorkbenchError
from workbench.imaging.rest import orthanc_message
from workbench.imaging.slides import orthanc_tags
from workbench.imaging.slides.connections import direct_connections, failed

logger = logging.getLogger(__name__)

FRAMES_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
"""Frames as stored (Orthanc answers JPEG tiles as ``image/jpeg`` parts)."""
FRAMES_PER_REQUEST = 256
"""WADO-RS: frames asked of one instance in one frame-list request (a URL of about 1.5 kB)."""
STREAMS = 4
"""Orthanc's one-frame route: connections asking one instance's frames at once."""
FRAMES_PER_STREAM = 16
"""Orthanc's one-frame route: fewer frames than this per connection are not worth another one."""


class SlideSource(Protocol):
    """Access to one server's slides, whatever the archive kind."""

    url: str

    def metadata(self, study_uid: str, series_uid: str) -> list[Dataset]:
        """The series' instances as pydicom datasets without pixel data."""
        ...

    def prepare(self, study_uid: str, series_uid: str) -> None:
        """Get ready to read frames of a series (once per slide, when it is opened)."""
        ...

    def plan(self, numbers: list[int]) -> list[list[int]]:
        """The frames ``numbers`` (sorted) of one instance as the lists to fetch at once, one
        :meth:`iter_frames` each."""
        ...

    def frames(
        self, study_uid: str, series_uid: str, sop_instance_uid: str, numbers: list[int]
    ) -> list[bytes]:
        """The frames ``numbers`` (1-based) of one instance, in that order."""
        ...

    def iter_frames(
        self, study_uid: str, series_uid: str, sop_instance_uid: str, numbers: list[int]
    ) -> Iterator[bytes]:
        """Like :meth:`frames`, each frame as soon as it has arrived (an error at the end if one is short)."""
        ...

    def viewer_url(self, series_uid: str) -> str | None:
        """The server's own slide viewer for the series, or ``None``."""
        ...

    def viewer_note(self) -> str:
        """Why there is no viewer link (empty when there is one)."""
        ...


def source_of(archive: Any) -> SlideSource:
    """The :class:`SlideSource` of an archive (its ``slide_source()``).

    Raises
    ------
    ArchiveError
        The archive cannot serve slides: of no known kind, or an Orthanc without the DICOMweb plugin.
    """
    make = getattr(archive, "slide_source", None)
    if make is None:
        raise ArchiveError(f"cannot read slides from {archive!r}: not an Orthanc or DICOMweb archive")
    source: SlideSource = make()
    return source


def datasets_from_json(items: list[dict[str, Any]]) -> list[Dataset]:
    """DICOM JSON objects as pydicom datasets (bulk data left out)."""
    return [Dataset.from_json(item, bulk_data_uri_handler=lambda *_: b"") for item in items]


def _frame_path(study_uid: str, series_uid: str, sop_instance_uid: str, numbers: list[int]) -> str:
    listed = ",".join(str(n) for n in numbers)
    return f"/studies/{study_uid}/series/{series_uid}/instances/{sop_instance_uid}/frames/{listed}"


def _counted(
    parts: Iterable[memoryview], numbers: list[int], sop_instance_uid: str, url: str
) -> Iterator[bytes]:
    """The parts as bytes, checked to be exactly as many as the frames asked for."""
    count = 0
    for part in parts:
        count += 1
        if count > len(numbers):
            break
        yield bytes(part)
    if count != len(numbers):
        missing = numbers[count] if count < len(numbers) else numbers[-1]
        raise ArchiveError(
            f"{url} sent {count} of {len(numbers)} frames asked of instance {sop_instance_uid}; "
            f"frame {missing} is missing"
        )


class OrthancSource:
    """Slides of an Orthanc archive: metadata from Orthanc's ``/tags`` (its DICOMweb plugin as fallback),
    frames through Orthanc's own one-frame route (see the module docstring), on the archive's credentials."""

    def __init__(self, archive: Any) -> None:
        self.archive = archive
        self.client = archive.client
        self.url = archive.url
        self._ids: dict[str, str] = {}  # SOPInstanceUID -> Orthanc instance ID
        self._series: dict[str, list[str]] = {}  # SeriesInstanceUID -> Orthanc instance IDs
        self._first: dict[str, threading.Lock] = {}  # per instance: one first request at a time
        self._lock = threading.Lock()
        self._connections = direct_connections(self.url, self.client.session, self.client.timeout)
        _SOURCES.add(self)

    def metadata(self, study_uid: str, series_uid: str) -> list[Dataset]:
        """The instances from Orthanc's ``/instances/{id}/tags``
        (:mod:`~workbench.imaging.slides.orthanc_tags`), or from the DICOMweb series metadata where those
        cannot say faithfully all the workbench reads."""
        ids = self._series_ids(study_uid, series_uid)
        reason = "Orthanc found no instance"
        if ids:
            try:
                converted = self._all_tags(series_uid, ids)
            except ValueError as exc:  # a value pydicom refuses for the dictionary's VR
                reason = f"a value cannot be converted ({exc})"
            else:
                lost = [path for item in converted for path in item.needed_lost(orthanc_tags.READ_TAGS)]
                if not lost:
                    return [item.dataset for item in converted]
                reason = f"{len(lost)} element(s) it reads cannot be converted: {', '.join(lost[:5])}"
        logger.debug("series %s: metadata through DICOMweb: %s", series_uid, reason)
        items = self.client.get_json(
            f"/dicom-web/studies/{study_uid}/series/{series_uid}/metadata", what=f"series {series_uid}"
        )
        return datasets_from_json(items)

    def prepare(self, study_uid: str, series_uid: str) -> None:
        """Learn the Orthanc IDs of the instances (one ``/tools/find``) if :meth:`metadata` has not."""
        self._series_ids(study_uid, series_uid)

    def _series_ids(self, study_uid: str, series_uid: str) -> list[str]:
        """The Orthanc IDs of the series' instances: one ``/tools/find``, once per series."""
        with self._lock:
            known = self._series.get(series_uid)
        if known is not None:
            return known
        found = self.client.post_json(
            "/tools/find",
            {
                "Level": "Instance",
                "Query": {"StudyInstanceUID": study_uid, "SeriesInstanceUID": series_uid},
                "Expand": True,
            },
        )
        ids = [str(item["ID"]) for item in found]
        with self._lock:
            for item in found:
                uid = item.get("MainDicomTags", {}).get("SOPInstanceUID")
                if uid:
                    self._ids[uid] = item["ID"]
            if ids:
                self._series[series_uid] = ids
        return ids

    def _all_tags(self, series_uid: str, ids: list[str]) -> list[orthanc_tags.Converted]:
        """Every instance's ``/tags``, converted, on up to :data:`STREAMS` connections at once."""
        if len(ids) == 1:
            return [self._tags(ids[0], series_uid)]
        with ThreadPoolExecutor(max_workers=min(STREAMS, len(ids)), thread_name_prefix="slide-tags") as pool:
            return list(pool.map(lambda instance_id: self._tags(instance_id, series_uid), ids))

    def _tags(self, instance_id: str, series_uid: str) -> orthanc_tags.Converted:
        """One instance's tags, the texts too long for Orthanc's default answer asked again."""
        path = f"/instances/{instance_id}/tags?short"
        what = f"the tags of instance {instance_id} (series {series_uid})"
        with self._connection_json() as get:
            converted = orthanc_tags.convert(get(path, what))
            if converted.long_texts:
                argument = orthanc_tags.ignore_length_argument(converted.long_texts)
                converted = orthanc_tags.convert(get(f"{path}&ignore-length={argument}", what))
        return converted

    @contextmanager
    def _connection_json(self) -> Iterator[Callable[[str, str], Any]]:
        """A function ``(path, what) -> decoded JSON`` on one kept-alive connection (the session's own
        requests through a proxy)."""
        if self._connections is None:
            yield lambda path, what: self.client.get_json(path, what=what)
            return
        with self._connections.connection() as connection:

            def get(path: str, what: str) -> Any:
                try:
                    answer = connection.get(path)
                except (OSError, http.client.HTTPException) as exc:
                    raise failed(self.url, exc, what, self.client.timeout[1]) from None
                if answer.status >= 400:
                    raise self._refused(answer.status, orthanc_message(answer.body, answer.reason), what)
                return json.loads(answer.body)

            yield get

    def plan(self, numbers: list[int]) -> list[list[int]]:
        """Up to :data:`STREAMS` streams of at least :data:`FRAMES_PER_STREAM` frames, of even size."""
        return _split(numbers, max(1, min(STREAMS, len(numbers) // FRAMES_PER_STREAM)))

    def frames(
        self, study_uid: str, series_uid: str, sop_instance_uid: str, numbers: list[int]
    ) -> list[bytes]:
        return list(self.iter_frames(study_uid, series_uid, sop_instance_uid, numbers))

    def iter_frames(
        self, study_uid: str, series_uid: str, sop_instance_uid: str, numbers: list[int]
    ) -> Iterator[bytes]:
        """The frames one by one on one kept-alive connection, the first alone (see the module docstring)."""
        if not numbers:
            return
        instance_id = self._instance_id(sop_instance_uid)
        with self._connection() as get:
            with self._first_lock(sop_instance_uid):  # Orthanc parses an instance it has not yet once
                first = get(instance_id, sop_instance_uid, numbers[0])
            yield first
            for number in numbers[1:]:
                yield get(instance_id, sop_instance_uid, number)

    def _instance_id(self, sop_instance_uid: str) -> str:
        with self._lock:
            known = self._ids.get(sop_instance_uid)
        if known is not None:
            return known
        found = self.client.post_json(
            "/tools/find", {"Level": "Instance", "Query": {"SOPInstanceUID": sop_instance_uid}}
        )
        if not found:
            raise NotFoundError(f"instance {sop_instance_uid} not found on Orthanc at {self.url}")
        with self._lock:
            self._ids[sop_instance_uid] = found[0]
        return str(found[0])

    def _first_lock(self, sop_instance_uid: str) -> threading.Lock:
        with self._lock:
            return self._first.setdefault(sop_instance_uid, threading.Lock())

    @contextmanager
    def _connection(self) -> Iterator[Callable[[str, str, int], bytes]]:
        """A function ``(instance ID, SOPInstanceUID, frame) -> bytes`` on one connection."""
        if self._connections is None:  # through a proxy: the session's own requests
            yield self._frame_by_session
            return
        with self._connections.connection() as connection:

            def get(instance_id: str, sop_instance_uid: str, number: int) -> bytes:
                what = f"frame {number} of instance {sop_instance_uid}"
                try:
                    answer = connection.get(_raw_frame_path(instance_id, number))
                except (OSError, http.client.HTTPException) as exc:
                    raise failed(self.url, exc, what, self.client.timeout[1]) from None
                if answer.status >= 400:
                    raise self._refused(answer.status, orthanc_message(answer.body, answer.reason), what)
                return answer.body

            yield get

    def _frame_by_session(self, instance_id: str, sop_instance_uid: str, number: int) -> bytes:
        what = f"frame {number} of instance {sop_instance_uid}"
        try:
            return self.client.get_bytes(_raw_frame_path(instance_id, number), what=what)
        except ArchiveError as exc:
            if isinstance(exc, AuthenticationError):
                raise
            raise ArchiveError(f"{what} could not be read: {exc}") from None

    def _refused(self, status: int, message: str, what: str) -> WorkbenchError:
        from workbench.imaging.rest import HINT_AUTH

        if status in (401, 403):
            user = f"user {self.client.username!r}" if self.client.username else "anonymous access"
            return AuthenticationError(f"Orthanc at {self.url} refused {user} (HTTP {status}); {HINT_AUTH}")
        if status == 404:
            return NotFoundError(f"{what} not found on Orthanc at {self.url}")
        return ArchiveError(
            f"{what} could not be read: Orthanc at {self.url} answered HTTP {status}: {message}"
        )

    def _has_wsi(self) -> bool:
        return "wsi" in self.client.get_json("/plugins")

    def viewer_url(self, series_uid: str) -> str | None:
        if not self._has_wsi():
            return None
        found = self.client.post_json(
            "/tools/find", {"Level": "Series", "Query": {"SeriesInstanceUID": series_uid}}
        )
        if not found:
            raise NotFoundError(f"series {series_uid} not found on Orthanc at {self.url}")
        return f"{self.url}/wsi/app/viewer.html?series={found[0]}"

    def viewer_note(self) -> str:
        if self._has_wsi():
            return ""
        return (
            f"Orthanc at {self.url} has no whole-slide-image plugin, so no viewer link; "
            "install orthanc-wsi and restart it ('workbench orthanc start' loads it)"
        )


_SOURCES: weakref.WeakSet[OrthancSource] = weakref.WeakSet()


def _new_locks_after_fork() -> None:
    """A forked child (a DataLoader worker) gets locks of its own: one held by a parent thread at the fork
    would never be released here."""
    for source in list(_SOURCES):
        source._lock = threading.Lock()
        source._first = {}


os.register_at_fork(after_in_child=_new_locks_after_fork)


def _raw_frame_path(instance_id: str, number: int) -> str:
    """Orthanc's route to frame ``number`` (1-based, as DICOM counts) as stored (Orthanc counts from 0)."""
    return f"/instances/{instance_id}/frames/{number - 1}/raw"


class DicomWebSource:
    """Slides through a DICOMweb archive's session."""

    def __init__(self, archive: Any) -> None:
        self.archive = archive
        self.url = archive.url

    def _get(self, path: str, accept: str, what: str) -> Any:
        with self.archive._errors(what):
            response = self.archive.session.get(
                self.url + path, headers={"Accept": accept}, stream=True, timeout=self.archive.timeout
            )
            response.raise_for_status()
            return response

    def metadata(self, study_uid: str, series_uid: str) -> list[Dataset]:
        response = self._get(
            f"/studies/{study_uid}/series/{series_uid}/metadata",
            "application/dicom+json",
            f"series {series_uid}",
        )
        return datasets_from_json(response.json())

    def prepare(self, study_uid: str, series_uid: str) -> None:
        """Nothing to learn: frames are asked by SOPInstanceUID."""

    def plan(self, numbers: list[int]) -> list[list[int]]:
        """As few frame-list requests as :data:`FRAMES_PER_REQUEST` allows, of even size."""
        return _split(numbers, -(-len(numbers) // FRAMES_PER_REQUEST))

    def frames(
        self, study_uid: str, series_uid: str, sop_instance_uid: str, numbers: list[int]
    ) -> list[bytes]:
        return list(self.iter_frames(study_uid, series_uid, sop_instance_uid, numbers))

    def iter_frames(
        self, study_uid: str, series_uid: str, sop_instance_uid: str, numbers: list[int]
    ) -> Iterator[bytes]:
        from workbench.imaging.wire import iter_multipart

        what = f"frame(s) {_span(numbers)} of instance {sop_instance_uid}"
        response = self._get(
            _frame_path(study_uid, series_uid, sop_instance_uid, numbers), FRAMES_ACCEPT, what
        )
        with self.archive._errors(what):
            yield from _counted(iter_multipart(response), numbers, sop_instance_uid, self.url)

    def viewer_url(self, series_uid: str) -> str | None:
        return None

    def viewer_note(self) -> str:
        return f"{self.url} is a plain DICOMweb server: no slide viewer is known for it"


def _span(numbers: list[int]) -> str:
    return str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}..{numbers[-1]} ({len(numbers)})"


def _split(numbers: list[int], parts: int) -> list[list[int]]:
    """``numbers`` in ``parts`` consecutive lists of even size (none empty)."""
    if not numbers:
        return []
    size = -(-len(numbers) // max(1, parts))
    return [numbers[start : start + size] for start in range(0, len(numbers), size)]
