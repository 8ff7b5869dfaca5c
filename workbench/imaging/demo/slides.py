"""The demo hospital's pathology slides: synthetic H&E whole-slide images of inpatients, with tumour masks.

Eight biopsies of roster inpatients (Japanese names, as the rest of the demo), five with tumour regions and
three without. Each is a 4-level pyramid of 256-pixel JPEG tiles stored as VL Whole Slide Microscopy Image
Storage (:mod:`workbench.imaging.slides.build`), in a pathology study of its own. Everything is
deterministic: the same plan renders the same pixels and UIDs; :func:`slide_labels` and
:func:`tumour_mask` give the ground truth without a server.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydicom.dataset import Dataset

from workbench.imaging.demo import tissue
from workbench.imaging.demo.hospital import Subject, _uid, inpatient_subject
from workbench.imaging.demo.roster import by_patient_id, pseudonymous_id
from workbench.imaging.slides.build import SlideInfo, slide_datasets

if TYPE_CHECKING:
    from workbench.imaging.archive import Archive

logger = logging.getLogger(__name__)

SLIDE_WIDTH = 3072
SLIDE_HEIGHT = 2048
SLIDE_LEVELS = 4
PIXEL_SPACING_MM = 0.0005
"""0.5 µm per pixel at level 0 (a 20x scan)."""
SLIDE_SERIES_DESCRIPTION = "H&E whole slide"
# (roster patient number, tumour regions, organ of the biopsy)
_SLIDES = (
    (1, 2, "lung"),
    (3, 1, "lung"),
    (5, 2, "lung"),
    (6, 0, "stomach"),
    (7, 1, "colon"),
    (8, 2, "breast"),
    (9, 0, "kidney"),
    (10, 0, "thyroid"),
)


@dataclass(frozen=True)
class SlidePlan:
    """One demo slide."""

    subject: Subject
    number: int
    tumours: int
    organ: str
    study_date: dt.date

    @property
    def study_uid(self) -> str:
        """The pathology study's UID."""
        return _uid(self.subject.patient_id, "pathology", str(self.number))

    @property
    def series_uid(self) -> str:
        """The slide's series UID."""
        return _uid(self.subject.patient_id, "pathology", str(self.number), "slide")

    @property
    def specimen_id(self) -> str:
        """The specimen (and slide container) identifier."""
        return f"S{self.study_date:%y}-{self.number:04d}"

    @property
    def seed(self) -> int:
        """The seed of its pixels."""
        return self.subject.seed % (2**31) + self.number

    @property
    def label(self) -> str:
        """``"tumour"`` when the slide has tumour regions, else ``"normal"``."""
        return "tumour" if self.tumours else "normal"


def slide_plans() -> list[SlidePlan]:
    """The demo slides, in a fixed order."""
    plans = []
    for index, (number, tumours, organ) in enumerate(_SLIDES, start=1):
        patient = by_patient_id(pseudonymous_id(number))
        plans.append(
            SlidePlan(
                subject=inpatient_subject(patient),
                number=index,
                tumours=tumours,
                organ=organ,
                study_date=patient.admission_date + dt.timedelta(days=3),
            )
        )
    return plans


def render(plan: SlidePlan, width: int = SLIDE_WIDTH, height: int = SLIDE_HEIGHT) -> tissue.Tissue:
    """The slide's pixels and masks."""
    return tissue.render(plan.seed, width, height, plan.tumours)


def datasets(plan: SlidePlan) -> list[Dataset]:
    """The slide as DICOM instances, one per pyramid level."""
    subject = plan.subject
    info = SlideInfo(
        patient_id=subject.patient_id,
        patient_name=subject.name,
        study_uid=plan.study_uid,
        series_uid=plan.series_uid,
        specimen_id=plan.specimen_id,
        study_date=plan.study_date,
        patient_sex=subject.sex,
        patient_birth_date=subject.birth_date,
        accession_number=f"PATH{plan.study_date:%Y%m%d}{plan.number:03d}",
        study_description=f"病理組織診断 ({plan.organ} biopsy)",
        series_description=SLIDE_SERIES_DESCRIPTION,
        specimen_description=f"{plan.organ} biopsy, H&E",
        charset=subject.charset,
        institution="Workbench Memorial Hospital",
    )
    return slide_datasets(render(plan).image, info, levels=SLIDE_LEVELS, pixel_spacing_mm=PIXEL_SPACING_MM)


def tumour_mask(series_uid: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """The tumour mask of a demo slide.

    Parameters
    ----------
    series_uid
        The slide's SeriesInstanceUID.
    shape
        ``(rows, columns)`` wanted (nearest-neighbour resampling); default the mask's own grid, one pixel per
        :data:`~workbench.imaging.demo.tissue.MASK_CELL` level-0 pixels.

    Returns
    -------
    numpy.ndarray
        bool.

    Raises
    ------
    KeyError
        Not a demo slide.
    """
    plan = _by_series(series_uid)
    grid = (SLIDE_HEIGHT // tissue.MASK_CELL, SLIDE_WIDTH // tissue.MASK_CELL)
    _, mask = tissue.masks(plan.seed, grid, plan.tumours)
    if shape is None or tuple(shape) == grid:
        return mask
    rows = (np.arange(shape[0]) * grid[0] // shape[0]).clip(0, grid[0] - 1)
    cols = (np.arange(shape[1]) * grid[1] // shape[1]).clip(0, grid[1] - 1)
    return mask[np.ix_(rows, cols)]


def _by_series(series_uid: str) -> SlidePlan:
    for plan in slide_plans():
        if plan.series_uid == series_uid:
            return plan
    raise KeyError(f"{series_uid} is not a demo slide")


def slide_labels() -> pd.DataFrame:
    """Ground truth of the demo slides.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``study_uid``, ``series_uid``, ``specimen``, ``organ``, ``label`` (``"tumour"`` or
        ``"normal"``), ``tumour_regions``, ``tumour_fraction`` (of the tissue), ``mask_cell`` (level-0
        pixels per mask pixel); :func:`tumour_mask` gives each mask.
    """
    rows = []
    grid = (SLIDE_HEIGHT // tissue.MASK_CELL, SLIDE_WIDTH // tissue.MASK_CELL)
    for plan in slide_plans():
        tissue_mask, tumour = tissue.masks(plan.seed, grid, plan.tumours)
        rows.append(
            {
                "patient_id": plan.subject.patient_id,
                "study_uid": plan.study_uid,
                "series_uid": plan.series_uid,
                "specimen": plan.specimen_id,
                "organ": plan.organ,
                "label": plan.label,
                "tumour_regions": plan.tumours,
                "tumour_fraction": round(float(tumour.sum() / max(tissue_mask.sum(), 1)), 4),
                "mask_cell": tissue.MASK_CELL,
            }
        )
    return pd.DataFrame(rows)


def load_slides(
    archive: Archive,
    upload: Callable[[Archive, list[Any], str], object],
    stored: Callable[[Archive, str], int],
    bar: Any,
) -> list[dict[str, Any]]:
    """Store the demo slides not yet in the archive; one loader row per slide.

    ``upload(archive, items, what)`` and ``stored(archive, series_uid)`` are the loader's own functions
    (retrying upload, stored-instance count), so that slides load exactly like the other series. The next
    slide is rendered in a background thread while the current one uploads (numpy and scipy release the GIL).
    """
    from concurrent.futures import ThreadPoolExecutor

    plans = slide_plans()
    present = {plan.series_uid: stored(archive, plan.series_uid) for plan in plans}
    todo = [plan for plan in plans if present[plan.series_uid] < SLIDE_LEVELS]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-slides") as renderer:
        upcoming = renderer.submit(datasets, todo[0]) if todo else None
        for index, plan in enumerate(todo):
            items = upcoming.result() if upcoming is not None else []
            upcoming = renderer.submit(datasets, todo[index + 1]) if index + 1 < len(todo) else None
            upload(archive, items, f"slide {plan.series_uid}")
            bar.update(SLIDE_LEVELS)
    bar.update(SLIDE_LEVELS * (len(plans) - len(todo)))
    return [
        {
            "patient_id": plan.subject.patient_id,
            "patient_name": plan.subject.name,
            "study_uid": plan.study_uid,
            "series_uid": plan.series_uid,
            "modality": "SM",
            "series_description": SLIDE_SERIES_DESCRIPTION,
            "n_instances": SLIDE_LEVELS,
            "status": _status(present[plan.series_uid]),
            "cohort": "pathology",
            "study_date": pd.Timestamp(plan.study_date),
        }
        for plan in plans
    ]


def _status(stored_instances: int) -> str:
    if stored_instances >= SLIDE_LEVELS:
        return "already stored"
    return "completed" if stored_instances else "new"


def write_masks(folder: str | Path) -> pd.DataFrame:
    """Write each demo slide's tumour mask as ``folder/<series UID>.png`` (0/255, one pixel per mask cell).

    Returns
    -------
    pandas.DataFrame
        :func:`slide_labels` with a ``mask_file`` column.
    """
    from PIL import Image

    from workbench.files import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    table = slide_labels()
    paths = []
    for uid in table.series_uid:
        path = folder / f"{uid}.png"
        buffer = io.BytesIO()
        Image.fromarray(tumour_mask(uid).astype(np.uint8) * 255).save(buffer, format="PNG")
        atomic_write(path, buffer.getvalue(), mode=0o600)
        paths.append(str(path))
    return table.assign(mask_file=paths)
