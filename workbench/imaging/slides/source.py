"""How a slide reaches the server: WADO-RS metadata and frames, on either kind of archive.

Both :class:`~workbench.imaging.orthanc.OrthancArchive` and
:class:`~workbench.imaging.dicomweb.DicomWebArchive` serve slides through DICOMweb: the series metadata
(``.../series/{uid}/metadata``, DICOM JSON) and frame lists (``.../instances/{uid}/frames/1,2,3``) with
``transfer-syntax=*``, so that tiles come back as stored (JPEG stays JPEG). The Orthanc archive reaches its
server's DICOMweb plugin through its authenticated REST client; the DICOMweb archive through its session.
The multipart answer is split by :func:`workbench.imaging.wire.iter_multipart`, and
:meth:`SlideSource.iter_frames` hands each frame on as soon as it has arrived (the reader decodes it while the
rest of the answer is still coming).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from pydicom.dataset import Dataset

from workbench.errors import ArchiveError, NotFoundError

logger = logging.getLogger(__name__)

FRAMES_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
"""Frames as stored (Orthanc answers JPEG tiles as ``image/jpeg`` parts)."""


class SlideSource(Protocol):
    """WADO-RS access to one server, whatever the archive kind."""

    url: str

    def metadata(self, study_uid: str, series_uid: str) -> list[Dataset]:
        """The series' instances as pydicom datasets without pixel data."""
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
    """Slides through an Orthanc archive's authenticated REST client and its DICOMweb plugin."""

    def __init__(self, archive: Any) -> None:
        self.archive = archive
        self.client = archive.client
        self.url = archive.url

    def metadata(self, study_uid: str, series_uid: str) -> list[Dataset]:
        items = self.client.get_json(
            f"/dicom-web/studies/{study_uid}/series/{series_uid}/metadata", what=f"series {series_uid}"
        )
        return datasets_from_json(items)

    def frames(
        self, study_uid: str, series_uid: str, sop_instance_uid: str, numbers: list[int]
    ) -> list[bytes]:
        return list(self.iter_frames(study_uid, series_uid, sop_instance_uid, numbers))

    def iter_frames(
        self, study_uid: str, series_uid: str, sop_instance_uid: str, numbers: list[int]
    ) -> Iterator[bytes]:
        from workbench.imaging.wire import iter_multipart

        path = "/dicom-web" + _frame_path(study_uid, series_uid, sop_instance_uid, numbers)
        what = f"frame(s) {_span(numbers)} of instance {sop_instance_uid}"
        try:
            response = self.client.request(
                "GET", path, what=what, stream=True, headers={"Accept": FRAMES_ACCEPT}
            )
        except ArchiveError as exc:
            if isinstance(exc, NotFoundError):
                raise
            raise ArchiveError(f"{what} could not be read: {exc}") from None
        yield from _counted(iter_multipart(response), numbers, sop_instance_uid, self.url)

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
