"""Plain DICOMweb (QIDO-RS, WADO-RS, STOW-RS) for any server, built on dicomweb-client.

Two things are our own, and why:

- **Query strings.** dicomweb-client percent-encodes query values (``*`` -> ``%2A``, ``^`` -> ``%5E``,
  kanji -> ``%E5...``), which is right, but Orthanc 1.10.1 does not decode them: ``PatientName=*山田*``
  finds nothing (and raw UTF-8 in a URL is HTTP 400). So only values that no encoder changes (letters,
  digits, ``.``, ``-``, ``_``: UIDs, IDs, dates and date ranges, one modality) go to the server; names,
  wildcards, lists and descriptions are matched here, on the server's answers, with DICOM matching rules
  (:func:`workbench.imaging.query.matches`). That is correct on every server, and exact on Orthanc.
- **Multipart parsing of WADO-RS.** dicomweb-client returns parsed pydicom datasets; we need the files'
  bytes as stored (for the on-disk cache and ``download_series``), so the answer is split by
  :func:`workbench.imaging.wire.iter_multipart` while it arrives, using each part's ``Content-Length``.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pandas as pd
import requests

from workbench.errors import ArchiveError, AuthenticationError, ConfigError, NotFoundError
from workbench.imaging.archive import StoredInstance
from workbench.imaging.base import BaseArchive, InstanceRef, SeriesRef, two_patients_error
from workbench.imaging.names import looks_garbled, orthanc_garbled_form, repair_names
from workbench.imaging.query import Level, QueryError, build_query, check_uid, matches
from workbench.imaging.rest import DEFAULT_RETRIES, DEFAULT_TIMEOUT, make_session
from workbench.imaging.tables import make_frame, paused_gc, rows_to_columns
from workbench.imaging.wire import MULTIPART_ACCEPT, iter_multipart, sop_instance_uid_of
from workbench.urls import split_url

if TYPE_CHECKING:
    from workbench.imaging.slides.source import SlideSource

logger = logging.getLogger(__name__)

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
    ) -> None:
        from dicomweb_client import DICOMwebClient

        try:
            url, url_user, url_password = split_url(url, what="DICOMweb URL")
        except ConfigError as exc:
            raise ArchiveError(str(exc)) from None
        if username is None:  # credentials inside the URL are used, never kept in it
            username, password = url_user, url_password if password is None else password
        super().__init__(url, username, cache=cache)
        self.url = url
        self.username = username
        self.session = make_session(username, password, retries=retries)
        self.timeout = timeout
        self.client = DICOMwebClient(self.url, session=self.session, timeout=timeout)

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
        """QIDO-RS at ``level``: safe filters on the server, the rest matched here; rows keyed by column."""
        query = build_query(level, filters)
        server = {k: v for k, v in query.tags.items() if _SAFE_VALUE.match(v)}
        local = {k: v for k, v in query.tags.items() if k not in server}
        searches: dict[Level, Callable[..., list[dict[str, Any]]]] = {
            Level.STUDY: self.client.search_for_studies,
            Level.SERIES: self.client.search_for_series,
            Level.INSTANCE: self.client.search_for_instances,
        }
        search = searches[level]
        with self._errors(f"{level.value.lower()} search"):
            answers = search(
                search_filters=server,
                fields=list(fields),
                get_remaining=True,
                limit=query.limit if not local else None,
            )
        rows = [{column: _value(item, tag) for tag, column in fields.items()} for item in answers]
        pattern = local.pop("PatientName", None)
        rows = [row for row in rows if all(_matches(keyword, value, row) for keyword, value in local.items())]
        if pattern is not None:
            rows = self._match_names(pattern, rows)
        return rows[: query.limit] if query.limit else rows

    def _match_names(self, pattern: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows whose patient name matches ``pattern``, judging garbled names by their decoded form.

        A server that garbled a Japanese name (Orthanc 1.10 with multi-valued ISO 2022 sets) answers it in a
        form a kanji or kana pattern cannot match; the rows whose garbled name matches the pattern's garbled
        form (:func:`~workbench.imaging.names.orthanc_garbled_form`) are decoded from a stored file first.
        Only those are read, not every garbled name.
        """
        garbled = orthanc_garbled_form(pattern)
        if garbled is not None:
            self._fix_names(
                [
                    row
                    for row in rows
                    if not _matches("PatientName", pattern, row)
                    and matches(garbled, row.get("patient_name"), case_sensitive=False)
                ]
            )
        return [row for row in rows if _matches("PatientName", pattern, row)]

    def _fix_names(self, rows: list[dict[str, Any]]) -> None:
        """Re-decode garbled patient names from one stored file of the patient's study (pydicom)."""
        garbled = [row for row in rows if looks_garbled(row.get("patient_name"))]

        def key(row: dict[str, Any]) -> tuple[str, str]:
            return row.get("patient_id") or "", row.get("patient_name") or ""

        decoded = repair_names(garbled, key, lambda row: self._name_from_file(row["study_uid"]))
        for row in garbled:
            row["patient_name"] = decoded[key(row)]

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
    def _series_ref(self, series_uid: str, patient_id: str | None = None) -> SeriesRef:
        """One QIDO-RS instance search (with StudyInstanceUID and PatientID of each instance).

        A plain DICOMweb server that keeps one series UID under two patients lists both; ``patient_id``
        chooses which listing is used (retrieval is by UIDs, so which copy a server then sends is its own
        choice).
        """
        with self._errors(f"series {series_uid}"):
            found = self.client.search_for_instances(
                search_filters={"SeriesInstanceUID": series_uid},
                fields=["0020000D", "00100020"],
                get_remaining=True,
            )
        if not found:
            raise NotFoundError(f"series {series_uid} not found on DICOMweb server {self.url}")
        owners = {str(_value(i, "00100020") or "") for i in found}
        if patient_id is not None:
            found = [i for i in found if str(_value(i, "00100020") or "") == patient_id]
            if not found:
                stored = ", ".join(repr(o) for o in sorted(owners))
                raise NotFoundError(
                    f"series {series_uid} of patient {patient_id!r} not found on DICOMweb server {self.url} "
                    f"(it is stored under PatientID {stored})"
                )
        elif len(owners) > 1:
            raise two_patients_error(series_uid, owners, self.url)
        refs = tuple(InstanceRef(_value(i, "00080018"), _value(i, "00080018")) for i in found)
        return SeriesRef(
            series_uid, _value(found[0], "0020000D"), refs, ambiguous=len(owners) > 1, count=len(refs)
        )

    def _retrieve_series(
        self, series: SeriesRef, progress: bool
    ) -> Iterator[tuple[str, bytes | memoryview]]:
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

        datasets: list[pydicom.Dataset] = []
        sources: list[str] = []
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

    def slide_source(self) -> SlideSource:
        """Slides through WADO-RS on this archive's session."""
        from workbench.imaging.slides.source import DicomWebSource

        return DicomWebSource(self)

    def explorer_url(self, study_uid: str) -> str:
        """The study's DICOMweb URL (a plain DICOMweb server has no viewer we know of).

        Raises
        ------
        QueryError
            ``study_uid`` is not exactly one UID.
        """
        return f"{self.url}/studies/{check_uid(study_uid, 'study_uid')}"


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
