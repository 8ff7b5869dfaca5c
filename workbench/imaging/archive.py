"""The ``Archive`` interface: a DICOM archive seen as pandas tables and numpy volumes.

One interface, two implementations (the dicomweb-client pattern of one protocol with interchangeable
clients):

- :class:`~workbench.imaging.orthanc.OrthancArchive` uses Orthanc's REST API where it is faster
  (``/tools/find`` with ``Expand``: one call per level and page) and DICOMweb WADO-RS to retrieve pixels;
- :class:`~workbench.imaging.dicomweb.DicomWebArchive` speaks plain DICOMweb (QIDO-RS, WADO-RS, STOW-RS)
  through dicomweb-client, for any server (dcm4chee, Google Healthcare, AWS HealthImaging, Orthanc).

Both return the same pandas tables (columns and dtypes in :data:`workbench.imaging.tables.COLUMNS`) and the
same :class:`~workbench.imaging.volume.Volume`, and share retrieval, caching and stacking through
:class:`workbench.imaging.base.BaseArchive`. :func:`workbench.imaging.connection.connect` builds one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pandas as pd

from workbench.imaging.volume import Volume

if TYPE_CHECKING:
    from workbench.imaging.slides import Slide


class ArchiveKind(StrEnum):
    """Which implementation :func:`~workbench.imaging.connection.connect` builds."""

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
    columns of :data:`workbench.imaging.tables.COLUMNS` for their level.
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

    def download_series(
        self, series_uid: str, folder: str | Path, *, patient_id: str | None = None
    ) -> list[Path]:
        """Write the stored files of a series into ``folder``."""
        ...

    def store(
        self, items: Iterable[str | Path | bytes | Any], *, progress: bool = True
    ) -> list[StoredInstance]:
        """Upload DICOM files, bytes or pydicom datasets (``status`` ``"AlreadyStored"`` if they were)."""
        ...

    def explorer_url(self, study_uid: str) -> str:
        """A web page showing the study."""
        ...

    def slides(self, **filters: Any) -> pd.DataFrame:
        """Whole-slide images (VL WSI series) matching ``filters``: one row per slide."""
        ...

    def open_slide(self, series_uid: str) -> Slide:
        """A whole-slide image, read region by region (:class:`~workbench.imaging.slides.Slide`)."""
        ...
