"""Plain DICOMweb (QIDO-RS, WADO-RS, STOW-RS) for any server, built on dicomweb-client.

Two things are our own, and why:

- **Query strings.** dicomweb-client percent-encodes query values (``*`` -> ``%2A``, ``^`` -> ``%5E``,
  kanji -> ``%E5...``), which is right, but Orthanc 1.10.1 does not decode them: ``PatientName=*山田*``
  finds nothing (and raw UTF-8 in a URL is HTTP 400). So only values that no encoder changes (letters,
  digits, ``.``, ``-``, ``_``: UIDs, IDs, dates and date ranges, one modality) go to the server; names,
  wildcards, lists and descriptions are matched here, on the server's answers, with DICOM matching rules
  (:func:`workbench.imaging.query.matches`). That is correct on every server, and exact on Orthanc.
- **Multipart parsing of WADO-RS.** dicomweb-client returns parsed pydicom datasets; we need the files'
  bytes as stored (for the on-disk cache and ``download_series``), so :func:`iter_multipart` splits the
  ``multipart/related`` answer itself, using each part's ``Content-Length`` when the server sends it.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import requests

from workbench.errors import ArchiveError, AuthenticationError, DicomDataError, NotFoundError
from workbench.imaging.archive import (
    BaseArchive,
    InstanceRef,
    SeriesRef,
    StoredInstance,
    make_frame,
    paused_gc,
    rows_to_columns,
)
from workbench.imaging.namematch import NamePattern
from workbench.imaging.names import looks_garbled, orthanc_garbled_form
from workbench.imaging.query import Level, QueryError, build_query, matches
from workbench.imaging.rest import DEFAULT_RETRIES, DEFAULT_TIMEOUT, make_session

logger = logging.getLogger(__name__)

MULTIPART_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
"""Ask for the stored files as they are: no transcoding on the server."""

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9._-]+$")

# QIDO attributes: DICOM JSON tag -> our column name.
_STUDY_FIELDS = {
    "0020000D": "study_uid",
    "00100020": "patient_id",
    "00100010": "patient_name",
    "00080020": "study_date",
    "00080030": "study_time",
    "00081030": "study_description",
    "00080050": "accession_number",
    "00080061": "modalities",
    "00201206": "n_series",
    "00100030": "birth_date",
    "00100040": "sex",
}
_SERIES_FIELDS = {
    "0020000E": "series_uid",
    "0020000D": "study_uid",
    "00100020": "patient_id",
    "00100010": "patient_name",
    "00080060": "modality",
    "00200011": "series_number",
    "0008103E": "series_description",
    "00180015": "body_part",
    "00201209": "n_instances",
    "00080021": "series_date",
    "00080020": "study_date",
    "00080050": "accession_number",
}
_INSTANCE_FIELDS = {
    "00080018": "sop_instance_uid",
    "0020000E": "series_uid",
    "00200013": "instance_number",
    "00080016": "sop_class_uid",
}
# Filter keyword -> the column its value is matched against in QIDO answers.
_FILTER_COLUMNS = {
    "PatientID": "patient_id",
    "PatientName": "patient_name",
    "StudyDate": "study_date",
    "AccessionNumber": "accession_number",
    "StudyInstanceUID": "study_uid",
    "SeriesInstanceUID": "series_uid",
    "ModalitiesInStudy": "modalities",
    "Modality": "modality",
    "StudyDescription": "study_description",
    "SeriesDescription": "series_description",
}


class DicomWebArchive(BaseArchive):
    """Any DICOMweb server, through dicomweb-client.

    Parameters
    ----------
    url
        The DICOMweb root (for Orthanc: ``http://host:8042/dicom-web``).
    username, password
        HTTP basic-auth credentials, if the server wants them.
    timeout
        ``(connect, read)`` seconds per request.
    retries
        Retries on connection errors and HTTP 502/503/504.
    cache
        Keep retrieved instances and decoded volumes on disk.
    page_size
        Results per QIDO-RS request (``limit``); ``None``: as many as the server gives per request.
    """

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        cache: bool = True,
        page_size: int | None = None,
    ) -> None:
        from dicomweb_client import DICOMwebClient

        if not url or not url.startswith(("http://", "https://")):
            raise ArchiveError(f"DICOMweb URL {url!r} is not an http(s) URL")
        super().__init__(url, username, cache=cache)
        self.url = url.rstrip("/")
        self.username = username
        self.session = make_session(username, password, retries=retries)
        self.timeout = timeout
        self.client = DICOMwebClient(self.url, session=self.session, timeout=timeout)
        self.page_size = page_size

    def __repr__(self) -> str:
        return f"DicomWebArchive({self.url!r})"

    # -- errors ----------------------------------------------------------------------------------------
    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Translate requests/dicomweb-client failures into one clear workbench error about ``what``."""
        try:
            yield
        except requests.exceptions.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in (401, 403):
                raise AuthenticationError(
                    f"DICOMweb server {self.url} refused user {self.username!r} (HTTP {status}); "
                    "check the username and password"
                ) from None
            if status == 404:
                raise NotFoundError(f"{what} not found on DICOMweb server {self.url}") from None
            raise ArchiveError(f"DICOMweb server {self.url} answered HTTP {status} for {what}") from None
        except requests.exceptions.ConnectionError:
            raise ArchiveError(
                f"cannot reach DICOMweb server {self.url}; check the URL and that it runs"
            ) from None
        except requests.exceptions.Timeout:
            raise ArchiveError(f"DICOMweb server {self.url} did not answer in time for {what}") from None

    def ping(self) -> None:
        """One cheap QIDO-RS request, so that a wrong URL or password fails now, with a clear message.

        Raises
        ------
        ArchiveError, AuthenticationError
            The server cannot be reached or refuses the credentials.
        """
        with self._errors("a one-study search"):
            self.client.search_for_studies(limit=1)

    # -- search ----------------------------------------------------------------------------------------
    def _search(self, level: Level, filters: dict[str, Any], fields: dict[str, str]) -> list[dict[str, Any]]:
        """QIDO-RS at ``level``: safe filters on the server, the rest matched here; rows keyed by column.

        ``ModalitiesInStudy`` is always matched here, on the answers' own ModalitiesInStudy: Orthanc 1.10
        ignores ``offset`` with it (a paging client gets the same studies again, for ever) and forwards only
        the first ``limit`` studies.
        """
        query = build_query(level, filters)
        server = {
            k: v for k, v in query.tags.items() if _SAFE_VALUE.match(v) and k != "ModalitiesInStudy"
        }
        local = {k: v for k, v in query.tags.items() if k not in server}
        answers = self._qido(level, server, list(fields), query.limit if not local else None)
        rows = [{column: _value(item, tag) for tag, column in fields.items()} for item in answers]
        local.pop("PatientName", None)
        rows = [row for row in rows if all(_matches(keyword, value, row) for keyword, value in local.items())]
        if query.name is not None:
            rows = self._match_names(query.name, rows)
        return rows[: query.limit] if query.limit else rows

    def _qido(
        self, level: Level, filters: dict[str, str], fields: list[str], limit: int | None
    ) -> list[dict[str, Any]]:
        """Every answer of a QIDO-RS search, page by page (``offset``).

        Pages are read until one comes back empty (``page_size`` per request, or as many as the server
        gives). A page that repeats the previous one ends the loop (a server ignoring ``offset``). A server
        cap such as Orthanc's ``LimitFindResults`` cannot be told apart from the end of the answers here
        (QIDO-RS has no count, and Orthanc sends no warning):
        :class:`~workbench.imaging.orthanc.OrthancArchive`
        detects it through Orthanc's REST API.
        """
        search = {
            Level.STUDY: self.client.search_for_studies,
            Level.SERIES: self.client.search_for_series,
            Level.INSTANCE: self.client.search_for_instances,
        }[level]
        answers: list[dict[str, Any]] = []
        previous: list[Any] | None = None
        with self._errors(f"{level.value.lower()} search"):
            while limit is None or len(answers) < limit:
                want = self.page_size if limit is None else min(self.page_size or limit, limit - len(answers))
                page = search(search_filters=filters, fields=fields, offset=len(answers), limit=want)
                key = [item.get("00080018", item.get("0020000E", item.get("0020000D"))) for item in page[:3]]
                if not page or key == previous:
                    break
                answers.extend(page)
                previous = key
                if limit is not None and len(answers) >= limit:
                    break
        return answers

    def _match_names(self, pattern: NamePattern, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows whose patient name matches ``pattern`` (see :mod:`~workbench.imaging.namematch`), garbled too.

        A server that garbled a Japanese name (Orthanc 1.10 with multi-valued ISO 2022 sets) answers it in a
        form a kanji or kana pattern cannot match; the rows whose garbled name matches the pattern's garbled
        form (:func:`~workbench.imaging.names.orthanc_garbled_form`) are decoded from a file of their own
        study first. Only those are read, not every garbled name.
        """
        garbled = orthanc_garbled_form(pattern.server)
        if garbled is not None:
            self._fix_names(
                [
                    row
                    for row in rows
                    if not pattern.matches(row.get("patient_name"))
                    and matches(garbled, row.get("patient_name"), case_sensitive=False)
                ]
            )
        return [row for row in rows if pattern.matches(row.get("patient_name"))]

    def _fix_names(self, rows: list[dict[str, Any]]) -> None:
        """Re-decode garbled patient names from one stored file of the patient's study (pydicom)."""
        decoded: dict[str, str] = {}
        for row in rows:
            name = row.get("patient_name")
            if not looks_garbled(name):
                continue
            study_uid = row["study_uid"]
            if study_uid not in decoded:  # per study: studies of one patient ID may hold other names
                decoded[study_uid] = self._name_from_file(study_uid) or name
            row["patient_name"] = decoded[study_uid]

    def _name_from_file(self, study_uid: str) -> str | None:
        import pydicom

        with self._errors(f"study {study_uid}"):
            found = self.client.search_for_instances(
                study_instance_uid=study_uid, limit=1, fields=["0020000E"]
            )
        if not found:
            return None
        ref = InstanceRef(_value(found[0], "00080018"), _value(found[0], "00080018"))
        data = self._retrieve_instance(SeriesRef(_value(found[0], "0020000E"), study_uid, (ref,)), ref)
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        return str(ds.get("PatientName", "")) or None

    @paused_gc
    def patients(self, **filters: Any) -> pd.DataFrame:
        """Patients matching ``filters``, grouped from a study search (QIDO-RS has no patient level).

        Returns
        -------
        pandas.DataFrame
            patient_id, patient_name (+ 3 groups), birth_date, sex, n_studies.
        """
        build_query(Level.PATIENT, filters)  # validate: only patient filters here
        limit = filters.pop("limit", None)
        rows = self._search(Level.STUDY, filters, _STUDY_FIELDS)
        self._fix_names(rows)
        patients: dict[str, dict[str, Any]] = {}
        for row in rows:
            entry = patients.setdefault(row["patient_id"], {**row, "n_studies": 0})
            entry["n_studies"] += 1
        result = list(patients.values())
        return make_frame(Level.PATIENT, rows_to_columns(result[:limit] if limit else result))

    @paused_gc
    def studies(self, **filters: Any) -> pd.DataFrame:
        """Studies matching ``filters`` (same filters and columns as :meth:`OrthancArchive.studies`)."""
        rows = self._search(Level.STUDY, filters, _STUDY_FIELDS)
        self._fix_names(rows)
        return make_frame(Level.STUDY, rows_to_columns(rows))

    @paused_gc
    def series(self, **filters: Any) -> pd.DataFrame:
        """Series matching ``filters`` (same filters and columns as :meth:`OrthancArchive.series`)."""
        rows = self._search(Level.SERIES, filters, _SERIES_FIELDS)
        for row in rows:
            row["series_date"] = row.get("series_date") or row.get("study_date")
        return make_frame(Level.SERIES, rows_to_columns(rows))

    def instances(self, series_uid: str | None = None, **filters: Any) -> pd.DataFrame:
        """Instances of one series: sop_instance_uid, series_uid, instance_number, sop_class_uid.

        Raises
        ------
        QueryError
            No ``series_uid``.
        """
        if not series_uid:
            raise QueryError("instances() needs series_uid=...; find it with archive.series(...)")
        rows = self._search(Level.INSTANCE, {"series_uid": series_uid, **filters}, _INSTANCE_FIELDS)
        return make_frame(Level.INSTANCE, rows_to_columns(rows))

    # -- retrieval -------------------------------------------------------------------------------------
    def _series_ref(self, series_uid: str) -> SeriesRef:
        with self._errors(f"series {series_uid}"):
            found = self.client.search_for_instances(
                search_filters={"SeriesInstanceUID": series_uid}, fields=["0020000D"], get_remaining=True
            )
        if not found:
            raise NotFoundError(f"series {series_uid} not found on DICOMweb server {self.url}")
        refs = tuple(InstanceRef(_value(i, "00080018"), _value(i, "00080018")) for i in found)
        return SeriesRef(series_uid, _value(found[0], "0020000D"), refs)

    def _volume_entry(self, series_uid: str) -> tuple[str, SeriesRef | None]:
        from workbench.imaging.cache import VolumeCache

        series = self._series_ref(series_uid)
        return VolumeCache.entry(series_uid, [ref.sop_instance_uid for ref in series.instances]), series

    def _retrieve_series(self, series: SeriesRef, progress: bool) -> Iterator[tuple[str, memoryview]]:
        url = f"{self.url}/studies/{series.study_uid}/series/{series.series_uid}"
        for part in self._multipart(url, f"series {series.series_uid}", progress):
            yield sop_instance_uid_of(part), part

    def _retrieve_instance(self, series: SeriesRef, ref: InstanceRef) -> bytes:
        url = (
            f"{self.url}/studies/{series.study_uid}/series/{series.series_uid}"
            f"/instances/{ref.sop_instance_uid}"
        )
        parts = list(self._multipart(url, f"instance {ref.sop_instance_uid}", False))
        if len(parts) != 1:
            raise ArchiveError(
                f"DICOMweb server {self.url} sent {len(parts)} files for instance {ref.sop_instance_uid}"
            )
        return bytes(parts[0])

    def _multipart(self, url: str, what: str, progress: bool) -> Iterator[memoryview]:
        with self._errors(what):
            response = self.session.get(
                url, headers={"Accept": MULTIPART_ACCEPT}, stream=True, timeout=self.timeout
            )
            response.raise_for_status()
            yield from iter_multipart(response, progress=progress)

    def store(self, items: Iterable[Any], *, progress: bool = True) -> list[StoredInstance]:
        """Upload DICOM files, bytes or pydicom datasets with STOW-RS (one request).

        Returns
        -------
        list of StoredInstance
            ``status`` is ``"Success"`` or ``"Failed"`` as the server's answer says.

        Raises
        ------
        ArchiveError
            The server refused the request.
        """
        import pydicom

        datasets, sources = [], []
        for item in items:
            if isinstance(item, (bytes, bytearray)):
                datasets.append(pydicom.dcmread(io.BytesIO(item)))
                sources.append("<bytes>")
            elif isinstance(item, pydicom.Dataset):
                datasets.append(item)
                sources.append(f"SOPInstanceUID {item.get('SOPInstanceUID', '?')}")
            else:
                datasets.append(pydicom.dcmread(item))
                sources.append(str(item))
        with self._errors("STOW-RS upload"):
            answer = self.client.store_instances(datasets)
        failed = {str(item.ReferencedSOPInstanceUID) for item in answer.get("FailedSOPSequence", [])}
        return [
            StoredInstance(
                source, str(ds.SOPInstanceUID), "Failed" if str(ds.SOPInstanceUID) in failed else "Success"
            )
            for source, ds in zip(sources, datasets, strict=True)
        ]

    def explorer_url(self, study_uid: str) -> str:
        """The study's DICOMweb URL (a plain DICOMweb server has no viewer we know of)."""
        return f"{self.url}/studies/{study_uid}"


def _value(item: Any, tag: str) -> Any:
    """First value of a DICOM JSON attribute; a person name becomes ``alphabetic=ideographic=phonetic``."""
    values = item.get(tag, {}).get("Value")
    if not values:
        return None
    if tag == "00080061":
        return "\\".join(str(v) for v in values)
    value = values[0]
    if isinstance(value, dict):  # PN
        groups = [value.get(k, "") for k in ("Alphabetic", "Ideographic", "Phonetic")]
        while groups and not groups[-1]:
            groups.pop()
        return "=".join(groups)
    return value


def _matches(keyword: str, pattern: str, row: dict[str, Any]) -> bool:
    column = _FILTER_COLUMNS[keyword]
    value = row.get(column)
    if keyword == "ModalitiesInStudy":
        present = set(str(value or "").split("\\"))
        return bool(present & set(pattern.split("\\")))
    insensitive = keyword in ("PatientName", "StudyDescription", "SeriesDescription")
    return matches(pattern, None if value is None else str(value), case_sensitive=not insensitive)


# -- multipart --------------------------------------------------------------------------------------------
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
