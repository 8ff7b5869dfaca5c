"""The WADO-RS wire format both archives read: ``multipart/related`` answers, the UIDs of their files.

dicomweb-client returns parsed pydicom datasets; we need the files' bytes as stored (for the on-disk cache
and ``download_series``), so :func:`iter_multipart` splits the ``multipart/related`` answer itself, using
each part's ``Content-Length`` when the server sends it, and yields parts while the rest is still arriving.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import requests

from workbench.errors import ArchiveError, DicomDataError

MULTIPART_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
"""Ask for the stored files as they are: no transcoding on the server."""


READ_CHUNK = 1 << 22
"""Bytes read from the socket at a time; complete parts are handed on after each read."""


def iter_multipart(response: requests.Response, *, progress: bool = False) -> Iterator[memoryview]:
    """Split a ``multipart/related`` WADO-RS answer into its parts, each as soon as it has arrived.

    With a ``Content-Length`` (Orthanc sends one) the body is read into one preallocated buffer and parts
    are yielded while the rest is still streaming in, so that the caller decodes in parallel with the
    download. Without one, the body is read whole first.

    Parameters
    ----------
    response
        A streamed response (``stream=True``).
    progress
        Show the download progress (MB).

    Yields
    ------
    memoryview
        One DICOM file per part (a view into the answer's buffer).

    Raises
    ------
    ArchiveError
        The answer is not multipart or is cut short.
    """
    from tqdm.auto import tqdm

    content_type = response.headers.get("Content-Type", "")
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/") or not match:
        raise ArchiveError(f"expected a multipart answer from {response.url}, got {content_type!r}")
    boundary = match.group(1).encode("ascii")
    total = int(response.headers.get("Content-Length", 0)) or None
    with tqdm(
        total=total, desc="retrieve", unit="B", unit_scale=True, disable=not progress, leave=False
    ) as bar:
        if total and not response.headers.get("Content-Encoding"):
            buffer = bytearray(total)  # one allocation; parts are views into it
            scanner = _PartScanner(buffer, boundary, response.url)
            view, filled = memoryview(buffer), 0
            while filled < total:
                count = response.raw.readinto(view[filled : filled + READ_CHUNK])
                if not count:
                    raise ArchiveError(
                        f"the answer from {response.url} ended after {filled} of {total} bytes"
                    )
                filled += count
                bar.update(count)
                yield from scanner.parts(filled, final=filled == total)
            return
        whole = bytearray()
        for chunk in response.iter_content(chunk_size=1 << 20):
            whole.extend(chunk)
            bar.update(len(chunk))
    yield from split_multipart(whole, boundary, source=response.url)


def split_multipart(
    body: bytes | bytearray, boundary: bytes, *, source: str = "answer"
) -> Iterator[memoryview]:
    """Parts of a complete multipart body (RFC 2046), as zero-copy views into ``body``.

    Raises
    ------
    ArchiveError
        If the body is malformed or truncated.
    """
    yield from _PartScanner(body, boundary, source).parts(len(body), final=True)


class _PartScanner:
    """Finds the complete parts of a multipart body that may still be arriving.

    Each part is read by its ``Content-Length`` header when it has one, else up to the next boundary.
    """

    def __init__(self, data: bytes | bytearray, boundary: bytes, source: str) -> None:
        self.data = data
        self.view = memoryview(data)
        self.delimiter = b"--" + boundary
        self.source = source
        self.position: int | None = None  # where the next delimiter starts
        self.done = False

    def _short(self, what: str) -> ArchiveError:
        return ArchiveError(f"the multipart answer from {self.source} is cut short ({what})")

    def parts(self, filled: int, *, final: bool) -> Iterator[memoryview]:
        """Yield the parts complete in ``data[:filled]`` not yielded yet (``final``: no more data comes)."""
        data, delimiter = self.data, self.delimiter
        if self.position is None:
            first = data.find(delimiter, 0, filled)
            if first < 0:
                if final:
                    raise ArchiveError(f"the multipart answer from {self.source} holds no boundary")
                return
            self.position = first
        while not self.done:
            after = self.position + len(delimiter)
            if filled < after + 2:
                if final:
                    raise self._short("no closing boundary")
                return
            if data.startswith(b"--", after):
                self.done = True
                return
            header_end = data.find(b"\r\n\r\n", after, filled)
            if header_end < 0:
                if final:
                    raise self._short("part headers")
                return
            headers = bytes(data[after:header_end]).decode("latin-1")
            start = header_end + 4
            length = re.search(r"(?im)^content-length:\s*(\d+)\s*$", headers)
            if length:
                end = start + int(length.group(1))
                if end + 2 + len(delimiter) > filled:
                    if final:
                        raise self._short("a part is shorter than announced")
                    return
                if not data.startswith(b"\r\n" + delimiter, end):
                    raise self._short("a part is shorter than announced")
            else:
                end = data.find(b"\r\n" + delimiter, start, filled)
                if end < 0:
                    if final:
                        raise self._short("no closing boundary")
                    return
            yield self.view[start:end]
            self.position = end + 2


_META_SOP_UID = b"\x02\x00\x03\x00UI"


def sop_instance_uid_of(data: bytes | memoryview) -> str:
    """The SOPInstanceUID of a DICOM file's bytes.

    Read from MediaStorageSOPInstanceUID (0002,0003) of the Part 10 header when there is one (a few
    microseconds), else by pydicom from the data set, without touching the pixel data.

    Raises
    ------
    DicomDataError
        If the bytes are not DICOM or have no SOPInstanceUID.
    """
    head = bytes(data[:1024])
    if head[128:132] == b"DICM":
        at = head.find(_META_SOP_UID, 132)
        if at > 0:
            length = int.from_bytes(head[at + 6 : at + 8], "little")
            uid = head[at + 8 : at + 8 + length].rstrip(b"\x00 ").decode("ascii", errors="replace")
            if uid:
                return uid
    return sop_instance_uid_from_dataset(data)


def sop_instance_uid_from_dataset(data: bytes | memoryview) -> str:
    """The SOPInstanceUID of the data set itself (pydicom), ignoring the Part 10 header.

    Raises
    ------
    DicomDataError
        If the bytes are not DICOM or have no SOPInstanceUID.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
        return str(ds.SOPInstanceUID)
    except (InvalidDicomError, AttributeError, EOFError, ValueError, OSError) as exc:
        raise DicomDataError(f"a retrieved file is not DICOM or has no SOPInstanceUID ({exc})") from None
