"""``$(imaging)``: the patient's imaging studies during the stay, read from the DICOM archive.

One line per study, oldest first: ``2023-07-25 CT 胸部CT (3 series)``. The archive is any
:class:`workbench.imaging.Archive` (``workbench.imaging.connect()`` by default).

"No study" means different things, and the model and the reader of the record must not confuse them
(:class:`ImagingStatus`): no archive is configured (nothing is known about imaging), the archive does not
know the patient (imaging may exist elsewhere), or the archive knows the patient but holds no study dated
within the stay (there was none). Each has its own ``$(imaging)`` text (:data:`STATUS_TEXT`), and the status
is recorded with the generation (``Generation.imaging``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

from workbench.summary.cases import Case

logger = logging.getLogger(__name__)

NO_STUDIES = "入院期間中の画像検査なし"
"""The text of ``$(imaging)`` when the archive knows the patient but holds no study during the stay."""


class ImagingStatus(StrEnum):
    """What the archive could say about a patient's imaging during the stay."""

    NO_ARCHIVE = "no_archive"
    """No archive is configured: nothing is known."""
    PATIENT_NOT_IN_ARCHIVE = "patient_not_in_archive"
    """The archive has no study of the patient at all: imaging may be held elsewhere."""
    NO_STUDIES = "no_studies_during_stay"
    """The archive knows the patient, but no study is dated within the stay."""
    STUDIES = "studies"
    """At least one study during the stay."""


STATUS_TEXT = {
    ImagingStatus.NO_ARCHIVE: "画像アーカイブ未設定のため画像検査の有無は不明",
    ImagingStatus.PATIENT_NOT_IN_ARCHIVE: (
        "画像アーカイブにこの患者の検査記録なし（他施設・未登録の可能性あり、有無は不明）"
    ),
    ImagingStatus.NO_STUDIES: NO_STUDIES,
}
"""The text of ``$(imaging)`` for each status without studies."""


@dataclass(frozen=True)
class ImagingContext:
    """The value of ``$(imaging)`` and what it rests on.

    Attributes
    ----------
    status : ImagingStatus
    text : str
        The study lines, or the :data:`STATUS_TEXT` of the status.
    n_studies : int
    """

    status: ImagingStatus
    text: str
    n_studies: int = 0


def connect_archive() -> Any:
    """``workbench.imaging.connect()`` with the configured settings (imported lazily)."""
    from workbench.imaging import connect

    return connect()


_warned = False


def configured_archive() -> Any:
    """The configured archive, or ``None`` when none is configured (``$(imaging)`` then says so).

    Raises
    ------
    workbench.errors.ArchiveError, workbench.errors.AuthenticationError
        An archive is configured but cannot be reached or refuses the credentials.
    """
    from workbench import config

    global _warned
    if not config.orthanc_settings().url:
        if not _warned:  # once per process, not once per call of a run
            logger.warning("no DICOM archive is configured: $(imaging) says imaging is unknown")
            _warned = True
        return None
    return connect_archive()


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


def imaging_context(case: Case, archive: Any) -> ImagingContext:
    """``$(imaging)`` for ``case``: the study lines, or which kind of "none" it is.

    Parameters
    ----------
    case : Case
    archive : workbench.imaging.Archive or None
        ``None``: no archive is configured.

    Returns
    -------
    ImagingContext

    Raises
    ------
    workbench.errors.ArchiveError
        If the archive cannot be queried.
    """
    if archive is None:
        return ImagingContext(ImagingStatus.NO_ARCHIVE, STATUS_TEXT[ImagingStatus.NO_ARCHIVE])
    studies = studies_during_stay(case, archive)
    if not studies.empty:
        return ImagingContext(ImagingStatus.STUDIES, _lines(studies), len(studies))
    known = archive.patients(patient_id=case.patient_id)
    status = ImagingStatus.NO_STUDIES if not known.empty else ImagingStatus.PATIENT_NOT_IN_ARCHIVE
    return ImagingContext(status, STATUS_TEXT[status])


def imaging_lines(case: Case, archive: Any) -> str:
    """The text of ``$(imaging)``: one line per study, ``YYYY-MM-DD MODALITY description``.

    Parameters
    ----------
    case : Case
    archive : workbench.imaging.Archive or None

    Returns
    -------
    str
        The :data:`STATUS_TEXT` of the status when there is no study (see :func:`imaging_context`).
    """
    return imaging_context(case, archive).text


def _lines(studies: pd.DataFrame) -> str:
    lines = []
    for study in studies.itertuples(index=False):
        date = pd.Timestamp(study.study_date).date().isoformat() if pd.notna(study.study_date) else "日付不明"
        modalities = "/".join(m for m in str(getattr(study, "modalities", "") or "").split("\\") if m)
        description = str(getattr(study, "study_description", "") or "").strip()
        n_series = getattr(study, "n_series", None)
        extra = f" ({int(n_series)} series)" if n_series is not None and pd.notna(n_series) else ""
        lines.append(" ".join(part for part in (date, modalities, description) if part) + extra)
    return "\n".join(lines)


def patient_names(case: Case, archive: Any) -> list[str]:
    """The patient's names as the archive stores them (DICOM PN strings), for redaction."""
    patients = archive.patients(patient_id=case.patient_id)
    if patients.empty or "patient_name" not in patients:
        return []
    return [str(name) for name in patients["patient_name"].dropna().unique() if str(name).strip()]
