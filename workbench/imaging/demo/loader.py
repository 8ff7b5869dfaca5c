"""Load the demo hospital into an Orthanc server.

Series already complete on the server are not generated again (one ``/tools/find`` each), so a second
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
from workbench.imaging.demo import hospital, pydicom_files, slides
from workbench.imaging.rest import OrthancClient, UploadResult

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
    client: OrthancClient, *, cohort_size: int = hospital.DEFAULT_COHORT_SIZE, progress: bool = True
) -> pd.DataFrame:
    """Generate the demo hospital and store it in Orthanc; loading again adds nothing.

    Parameters
    ----------
    client
        The server to fill.
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
            stored = _stored_instances(client, plan.series_uid)
            if stored >= plan.n_instances:
                rows.append(_row(plan, LoadStatus.ALREADY_STORED))
                bar.update(plan.n_instances)
            else:
                todo.append((plan, LoadStatus.COMPLETED if stored else LoadStatus.NEW))
        rows.extend(_generate_and_upload(client, todo, bar))
        rows.extend(_upload_files(client, usable, bar))
        rows.extend(slides.load_slides(client, _upload, _stored_instances, bar))  # pathology (WSI)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.attrs["skipped"] = [(f.path.name, f.skip_reason) for f in files if f.skip_reason]
    logger.info(
        "demo hospital: %d series, %d new", len(frame), int((frame.status != LoadStatus.ALREADY_STORED).sum())
    )
    return frame


def _stored_instances(client: OrthancClient, series_uid: str) -> int:
    """How many instances of the series the server holds (0 if none)."""
    found = client.post_json(
        "/tools/find", {"Level": "Series", "Query": {"SeriesInstanceUID": series_uid}, "Expand": True}
    )
    return sum(len(series.get("Instances", [])) for series in found)


def _render(plan: hospital.SeriesPlan) -> list[Dataset]:
    return list(hospital.datasets(plan))


def _generate_and_upload(
    client: OrthancClient, todo: list[tuple[hospital.SeriesPlan, LoadStatus]], bar: Any
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
            results = _upload(client, items, f"series {plan.series_uid}")
            del items
            bar.update(len(results))
            rows.append(_row(plan, status))
    return rows


def _upload(client: OrthancClient, items: list[Any], what: str) -> list[UploadResult]:
    """Upload ``items``, once more if the first attempt breaks off (storing twice stores once)."""
    attempt = 1
    while True:
        try:
            return client.upload(items, workers=UPLOAD_WORKERS, progress=False)
        except AuthenticationError:
            raise
        except ArchiveError as exc:
            if attempt >= UPLOAD_ATTEMPTS:
                raise
            attempt += 1
            logger.warning("uploading %s failed (%s); trying again", what, exc)


def _upload_files(
    client: OrthancClient, files: list[pydicom_files.PydicomFile], bar: Any
) -> list[dict[str, Any]]:
    """Upload the pydicom sample files one by one; one that Orthanc refuses is skipped, not fatal."""
    by_series: dict[str, list[UploadResult]] = {}
    first: dict[str, pydicom_files.PydicomFile] = {}
    for item in files:
        try:
            (result,) = _upload(client, [item.path], item.path.name)
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


def _status(results: list[UploadResult]) -> LoadStatus:
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
