"""Load the demo hospital into a DICOM archive (any :class:`~workbench.imaging.archive.Archive`).

Series already complete on the server are not generated again (one series search each), so a second
load takes seconds and stores nothing. The next series is rendered in a background thread while the
current one uploads: phantom rendering is numpy (it releases the GIL) and uploading waits on the server.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import Any

import pandas as pd
from pydicom.dataset import Dataset

from workbench.errors import ArchiveError, AuthenticationError
from workbench.imaging.archive import Archive, StoredInstance
from workbench.imaging.demo import hospital, pydicom_files, slides

logger = logging.getLogger(__name__)

UPLOAD_WORKERS = 4
UPLOAD_ATTEMPTS = 2
"""Storing is idempotent, so a series whose upload broke off (e.g. Orthanc dropped an idle keep-alive
connection just as it was reused) is sent once more before giving up."""
COLUMNS = [
    "patient_id",
    "patient_name",
    "study_uid",
    "series_uid",
    "modality",
    "series_description",
    "n_instances",
    "status",
    "cohort",
    "study_date",
]


class LoadStatus(StrEnum):
    """What loading did to one series."""

    NEW = "new"
    ALREADY_STORED = "already stored"
    COMPLETED = "completed"  # some instances were on the server, the missing ones were added


def load(
    archive: Archive, *, cohort_size: int = hospital.DEFAULT_COHORT_SIZE, progress: bool = True
) -> pd.DataFrame:
    """Generate the demo hospital and store it in the archive; loading again adds nothing.

    Parameters
    ----------
    archive
        The archive to fill (``workbench.imaging.connect(cache=False)``).
    cohort_size
        Patients in the chest-CT screening cohort (half with pneumonia), besides the 12 inpatients.
    progress
        Show a progress bar over all images.

    Returns
    -------
    pandas.DataFrame
        One row per series: ``patient_id``, ``patient_name``, ``study_uid``, ``series_uid``, ``modality``,
        ``series_description``, ``n_instances``, ``status`` (``"new"``, ``"already stored"`` or
        ``"completed"``), ``cohort`` (``"inpatient"``, ``"screening"``, ``"pydicom"`` or ``"pathology"``: the
        whole-slide images of :mod:`workbench.imaging.demo.slides`), ``study_date``.
        ``df.attrs["skipped"]`` lists the pydicom files left out, with the reason.

    Raises
    ------
    ValueError
        If ``cohort_size`` is negative or not an integer.
    ArchiveError, AuthenticationError
        If the server cannot be reached, refuses the credentials, or refuses a generated instance.
    """
    from tqdm.auto import tqdm

    plans = hospital.plans(cohort_size)
    files = pydicom_files.select()
    usable = [f for f in files if f.skip_reason is None]
    total = sum(p.n_instances for p in plans) + len(usable) + slides.SLIDE_LEVELS * len(slides.slide_plans())
    rows: list[dict[str, Any]] = []
    with tqdm(total=total, desc="demo hospital", unit="image", disable=not progress) as bar:
        todo = []
        for plan in plans:
            stored = _stored_instances(archive, plan.series_uid)
            if stored >= plan.n_instances:
                rows.append(_row(plan, LoadStatus.ALREADY_STORED))
                bar.update(plan.n_instances)
            else:
                todo.append((plan, LoadStatus.COMPLETED if stored else LoadStatus.NEW))
        rows.extend(_generate_and_upload(archive, todo, bar))
        rows.extend(_upload_files(archive, usable, bar))
        rows.extend(slides.load_slides(archive, _upload, _stored_instances, bar))  # pathology (WSI)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.attrs["skipped"] = [(f.path.name, f.skip_reason) for f in files if f.skip_reason]
    logger.info(
        "demo hospital: %d series, %d new", len(frame), int((frame.status != LoadStatus.ALREADY_STORED).sum())
    )
    return frame


def _stored_instances(archive: Archive, series_uid: str) -> int:
    """How many instances of the series the archive holds (0 if none)."""
    return int(archive.series(series_uid=series_uid)["n_instances"].sum())


def _render(plan: hospital.SeriesPlan) -> list[Dataset]:
    return list(hospital.datasets(plan))


def _generate_and_upload(
    archive: Archive, todo: list[tuple[hospital.SeriesPlan, LoadStatus]], bar: Any
) -> list[dict[str, Any]]:
    """Render each series (the next one in the background) and upload it."""
    rows = []
    plans = [plan for plan, _ in todo]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-render") as renderer:
        upcoming = renderer.submit(_render, plans[0]) if plans else None
        for index, (plan, status) in enumerate(todo):
            items = upcoming.result() if upcoming is not None else []
            upcoming = renderer.submit(_render, plans[index + 1]) if index + 1 < len(plans) else None
            bar.set_postfix_str(f"{plan.subject.patient_id[:12]} {plan.modality}", refresh=False)
            results = _upload(archive, items, f"series {plan.series_uid}")
            del items
            bar.update(len(results))
            rows.append(_row(plan, status))
    return rows


def _upload(archive: Archive, items: list[Any], what: str) -> list[StoredInstance]:
    """Upload ``items``, once more if the first attempt breaks off (storing twice stores once)."""
    attempt = 1
    while True:
        try:
            return archive.store(items, progress=False)
        except AuthenticationError:
            raise
        except ArchiveError as exc:
            if attempt >= UPLOAD_ATTEMPTS:
                raise
            attempt += 1
            logger.warning("uploading %s failed (%s); trying again", what, exc)


def _upload_files(
    archive: Archive, files: list[pydicom_files.PydicomFile], bar: Any
) -> list[dict[str, Any]]:
    """Upload the pydicom sample files one by one; one that Orthanc refuses is skipped, not fatal."""
    by_series: dict[str, list[StoredInstance]] = {}
    first: dict[str, pydicom_files.PydicomFile] = {}
    for item in files:
        try:
            (result,) = _upload(archive, [item.path], item.path.name)
        except AuthenticationError:
            raise
        except ArchiveError as exc:
            logger.warning("skipping pydicom file %s: %s", item.path.name, exc)
            continue
        finally:
            bar.update(1)
        by_series.setdefault(item.series_uid, []).append(result)
        first.setdefault(item.series_uid, item)
    rows = []
    for series_uid, results in by_series.items():
        item = first[series_uid]
        rows.append(
            {
                "patient_id": item.patient_id,
                "patient_name": item.patient_name,
                "study_uid": item.study_uid,
                "series_uid": series_uid,
                "modality": item.modality,
                "series_description": item.series_description,
                "n_instances": len(results),
                "status": _status(results),
                "cohort": "pydicom",
                "study_date": pd.NaT,
            }
        )
    return rows


def _status(results: list[StoredInstance]) -> LoadStatus:
    new = sum(r.status != "AlreadyStored" for r in results)
    if new == len(results):
        return LoadStatus.NEW
    return LoadStatus.COMPLETED if new else LoadStatus.ALREADY_STORED


def _row(plan: hospital.SeriesPlan, status: LoadStatus) -> dict[str, Any]:
    return {
        "patient_id": plan.subject.patient_id,
        "patient_name": plan.subject.name,
        "study_uid": plan.study_uid,
        "series_uid": plan.series_uid,
        "modality": plan.modality,
        "series_description": plan.series_description,
        "n_instances": plan.n_instances,
        "status": status.value,
        "cohort": plan.subject.cohort.value,
        "study_date": pd.Timestamp(plan.study_date),
    }
