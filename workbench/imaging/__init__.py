"""Imaging in notebooks: a DICOM archive as pandas tables and numpy volumes.

>>> from workbench.imaging import connect, show                      # doctest: +SKIP
>>> archive = connect()                                  # the configured Orthanc (or any DICOMweb server)
>>> studies = archive.studies(patient_name="*山田*", study_date=("2024-01-01", None))
>>> ct = archive.series(study_uid=studies.study_uid[0], modality="CT")
>>> volume = archive.load_series(ct.series_uid[0])      # (z, y, x) HU, spacing, origin, direction, affine
>>> show(volume, preset="lung")

Modules: :mod:`~workbench.imaging.archive` (the ``Archive`` interface), :mod:`~workbench.imaging.connection`
(``connect``), :mod:`~workbench.imaging.orthanc` and :mod:`~workbench.imaging.dicomweb` (the two
implementations), :mod:`~workbench.imaging.base` (what they share), :mod:`~workbench.imaging.tables` (the
search tables' columns), :mod:`~workbench.imaging.wire` (WADO-RS multipart answers),
:mod:`~workbench.imaging.query` (filters), :mod:`~workbench.imaging.names` (person names, charsets),
:mod:`~workbench.imaging.volume` (``Volume``, geometry, stacking), :mod:`~workbench.imaging.cache`,
:mod:`~workbench.imaging.view` (window/level, montage, orthogonal planes), :mod:`~workbench.imaging.widgets`
(a notebook browser), :mod:`~workbench.imaging.anonymize`, :mod:`~workbench.imaging.slides` (whole-slide
images). matplotlib, ipywidgets and nibabel are imported only when used.
"""

from __future__ import annotations

from typing import Any

from workbench.imaging.anonymize import anonymize_study
from workbench.imaging.archive import Archive, ArchiveKind, StoredInstance
from workbench.imaging.connection import connect
from workbench.imaging.dicomweb import DicomWebArchive
from workbench.imaging.orthanc import OrthancArchive
from workbench.imaging.query import Level, QueryError
from workbench.imaging.volume import BadTagWarning, GeometryWarning, SkippedInstancesWarning, Volume

__all__ = [
    "Archive",
    "ArchiveKind",
    "BadTagWarning",
    "DicomWebArchive",
    "GeometryWarning",
    "Level",
    "OrthancArchive",
    "QueryError",
    "SkippedInstancesWarning",
    "StoredInstance",
    "Volume",
    "anonymize_study",
    "browser",
    "connect",
    "show",
]


def show(volume: Any, **kwargs: Any) -> Any:
    """Show a volume with a window/level preset (:func:`workbench.imaging.view.show`), or a whole-slide
    image with thumbnail, zoom and pan (:func:`workbench.imaging.slides.view.show`)."""
    from workbench.imaging.slides.slide import Slide

    if isinstance(volume, Slide):
        from workbench.imaging.slides.view import show as _show_slide

        return _show_slide(volume, **kwargs)
    from workbench.imaging.view import show as _show

    return _show(volume, **kwargs)


def browser(archive: Archive | None = None, **kwargs: Any) -> Any:
    """An ipywidgets study browser; see :func:`workbench.imaging.widgets.browser`."""
    from workbench.imaging.widgets import browser as _browser

    return _browser(archive, **kwargs)
