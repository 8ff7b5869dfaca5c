"""The WADO-RS wire format both archives read: ``multipart/related`` answers, the UIDs of their files.

dicomweb-client returns parsed pydicom datasets; we need the files' bytes as stored (for the on-disk cache
and ``download_series``), so :func:`iter_multipart` splits the ``multipart/related`` answer itself, while it
arrives.

Orthanc 1.10.1 sends a series as ``multipart/related`` with ``Connection: close`` and no ``Content-Length``,
so nothing tells the total size in advance; but every part carries its own ``Content-Length``. Each part is
read straight into a buffer of exactly its size and handed to the caller as soon as its last byte has
arrived, so that decoding runs while the rest of the answer is still coming, and a part can be dropped once
it is decoded (the whole answer is never held at once). A part without ``Content-Length`` is read up to the
next boundary (RFC 2046).

When the answer is not content-encoded, the parts are read from the ``http.client`` response underneath
urllib3's (``response.raw._fp``), each received straight into its own buffer (``readinto``): urllib3's
``read(n)`` passes every chunk through a buffer of its own and returns a new ``bytes`` that then has to be
copied into the part, which cost about a third of the reading thread's time in a cold 300-slice load.
"""

from __future__ import annotations

import http.client
import io
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import requests

from workbench.errors import ArchiveError, DicomDataError

MULTIPART_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
"""Ask for the stored files as they are: no transcoding on the server."""

READ_SIZE = 64 * 1024
"""Bytes read at a time while looking for part headers and boundaries."""
MAX_HEADERS = 64 * 1024
"""Part headers longer than this mean the answer is not what it claims to be."""

_LENGTH = re.compile(rb"(?im)^content-length:\s*(\d+)\s*$")


def boundary_of(content_type: str, source: str) -> bytes:
    """The boundary of a ``multipart/*`` Content-Type.

    Raises
    ------
    ArchiveError
        The answer is not multipart, or names no boundary.
    """
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/") or not match:
        raise ArchiveError(f"expected a multipart answer from {source}, got {content_type!r}")
    return match.group(1).encode("ascii")


class PartReader:
    """Iterate over the parts of a multipart body read from ``read`` (a ``read(n) -> bytes`` function).

    Parameters
    ----------
    read
        Returns up to ``n`` bytes, ``b""`` at the end (``response.raw.read`` with content decoding).
    boundary
        The boundary from the Content-Type.
    source
        What to name in messages (the URL).
    on_bytes
        Called with the number of bytes of each read (a progress bar).
    readinto
        Reads up to ``len(buffer)`` bytes into ``buffer`` and returns how many, 0 at the end (the body of a
        sized part is then received in place); default: ``read`` and a copy.
    """

    def __init__(
        self,
        read: Callable[[int], bytes],
        boundary: bytes,
        source: str,
        on_bytes: Callable[[int], Any] | None = None,
        readinto: Callable[[memoryview], int] | None = None,
    ) -> None:
        self._read = read
        self._readinto = readinto
        self.delimiter = b"--" + boundary
        self.source = source
        self.on_bytes = on_bytes
        self.buffer = bytearray()
        self.ended = False

    def _fill(self, size: int = READ_SIZE) -> bool:
        """Append up to ``size`` more bytes to the buffer; ``False`` at the end of the answer."""
        if self.ended:
            return False
        chunk = self._read(size)
        if not chunk:
            self.ended = True
            return False
        self.buffer += chunk
        if self.on_bytes is not None:
            self.on_bytes(len(chunk))
        return True

    def _need(self, size: int, what: str) -> None:
        while len(self.buffer) < size:
            if not self._fill():
                raise self._short(what)

    def _short(self, what: str) -> ArchiveError:
        return ArchiveError(f"the multipart answer from {self.source} is cut short ({what})")

    def __iter__(self) -> Iterator[memoryview]:
        delimiter, buffer = self.delimiter, self.buffer
        while (first := buffer.find(delimiter)) < 0:  # a preamble may precede the first boundary
            del buffer[: max(0, len(buffer) - len(delimiter))]
            if not self._fill():
                raise ArchiveError(f"the multipart answer from {self.source} holds no boundary")
        del buffer[:first]
        while True:
            self._need(len(delimiter) + 2, "no closing boundary")
            if buffer.startswith(b"--", len(delimiter)):
                return
            searched = len(delimiter)
            while (header_end := buffer.find(b"\r\n\r\n", searched)) < 0:
                if len(buffer) > MAX_HEADERS:
                    raise ArchiveError(f"the multipart answer from {self.source} has malformed part headers")
                searched = max(len(delimiter), len(buffer) - 3)
                if not self._fill():
                    raise self._short("part headers")
            length = _LENGTH.search(bytes(buffer[len(delimiter) : header_end]))
            start = header_end + 4
            part = self._sized(start, int(length.group(1))) if length else self._delimited(start)
            self._need(2 + len(delimiter), "no closing boundary")
            if not buffer.startswith(b"\r\n" + delimiter):
                raise self._short("a part is shorter than announced")
            del buffer[:2]
            yield part

    def _sized(self, start: int, length: int) -> memoryview:
        """A part of known length, read straight into its own buffer (not zeroed first: it is filled)."""
        buffer = self.buffer
        view = np.empty(length, dtype=np.uint8).data
        have = min(length, len(buffer) - start)
        view[:have] = buffer[start : start + have]
        del buffer[: start + have]
        while have < length:
            if self._readinto is not None:
                got = self._readinto(view[have:])
            else:
                chunk = self._read(length - have)
                got = len(chunk)
                view[have : have + got] = chunk
            if not got:
                self.ended = True
                raise self._short("a part is shorter than announced")
            have += got
            if self.on_bytes is not None:
                self.on_bytes(got)
        return view

    def _delimited(self, start: int) -> memoryview:
        """A part without Content-Length: everything up to the next boundary."""
        buffer, marker = self.buffer, b"\r\n" + self.delimiter
        searched = start
        while (end := buffer.find(marker, searched)) < 0:
            searched = max(start, len(buffer) - len(marker))
            if not self._fill(1 << 20):
                raise self._short("no closing boundary")
        part = bytearray(buffer[start:end])
        del buffer[:end]
        return memoryview(part)


def iter_multipart(response: requests.Response, *, progress: bool = False) -> Iterator[memoryview]:
    """The parts of a streamed ``requests`` response (``stream=True``), each as soon as it has arrived.

    Parameters
    ----------
    response
        A ``multipart/related`` answer, not yet read.
    progress
        Show the bytes received (tqdm).

    Yields
    ------
    memoryview
        One part's body (for WADO-RS: one DICOM file): a view of a buffer of its own, freed once the caller
        drops it.

    Raises
    ------
    ArchiveError
        The answer is not multipart, is malformed or is cut short.
    """
    from tqdm.auto import tqdm

    boundary = boundary_of(response.headers.get("Content-Type", ""), response.url)
    total = int(response.headers.get("Content-Length", 0) or 0) or None

    read, readinto = _body_readers(response)
    bar = tqdm(total=total, desc="retrieve", unit="B", unit_scale=True, disable=not progress, leave=False)
    with bar:
        try:
            yield from PartReader(read, boundary, response.url, bar.update if progress else None, readinto)
        finally:
            response.close()


def _body_readers(
    response: requests.Response,
) -> tuple[Callable[[int], bytes], Callable[[memoryview], int] | None]:
    """``read(n)`` and ``readinto(buffer)`` of a streamed answer's body (see the module docstring).

    Those of the ``http.client`` response under urllib3's when the answer is not content-encoded and
    urllib3 has read none of it; else urllib3's decoding ``read`` alone.
    """
    raw = response.raw
    inner = getattr(raw, "_fp", None)
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if isinstance(inner, http.client.HTTPResponse) and encoding in ("", "identity") and not raw.tell():
        return inner.read, inner.readinto

    def read(size: int) -> bytes:
        return raw.read(size, decode_content=True)

    return read, None


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
