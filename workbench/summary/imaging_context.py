"""``$(imaging)``: the patient's imaging studies during the stay, read from the DICOM archive.

One line per study, oldest first: ``2023-07-25 CT 胸部CT (3 series)``. The archive is any
:class:`workbench.imaging.Archive` (``workbench.imaging.connect()`` by default).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from workbench.summary.cases import Case

logger = logging.getLogger(__name__)

NO_STUDIES = "入院期間中の画像検査なし"
"""The text of ``$(imaging)`` when the archive holds no study of the patient during the stay."""


def connect_archive() -> Any:
    """``workbench.imaging.connect()`` with the configured settings (imported lazily)."""
    from workbench.imaging import connect

    return connect()


def studies_during_stay(case: Case, archive: Any) -> pd.DataFrame:
    """The archive's studies of ``case.patient_id`` dated within the stay, oldest first.

    Raises
    ------
    workbench.errors.ArchiveError
        If the archive cannot be queried.
    """
    studies = archive.studies(
        patient_id=case.patient_id, study_date=(case.admission_date, case.discharge_date)
    )
    if studies.empty:
        return studies
    return studies.sort_values(["study_date", "study_time"] if "study_time" in studies else ["study_date"])


def imaging_lines(case: Case, archive: Any) -> str:
    """The text of ``$(imaging)``: one line per study, ``YYYY-MM-DD MODALITY description``.

    Parameters
    ----------
    case : Case
    archive : workbench.imaging.Archive

    Returns
    -------
    str
        :data:`NO_STUDIES` when there is none.
    """
    studies = studies_during_stay(case, archive)
    lines = []
    for study in studies.itertuples(index=False):
        date = pd.Timestamp(study.study_date).date().isoformat() if pd.notna(study.study_date) else "日付不明"
        modalities = "/".join(m for m in str(getattr(study, "modalities", "") or "").split("\\") if m)
        description = str(getattr(study, "study_description", "") or "").strip()
        n_series = getattr(study, "n_series", None)
        extra = f" ({int(n_series)} series)" if n_series is not None and pd.notna(n_series) else ""
        lines.append(" ".join(part for part in (date, modalities, description) if part) + extra)
    return "\n".join(lines) or NO_STUDIES


def patient_names(case: Case, archive: Any) -> list[str]:
    """The patient's names as the archive stores them (DICOM PN strings), for redaction."""
    patients = archive.patients(patient_id=case.patient_id)
    if patients.empty or "patient_name" not in patients:
        return []
    return [str(name) for name in patients["patient_name"].dropna().unique() if str(name).strip()]
