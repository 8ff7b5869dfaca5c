"""The demo hospital's cohorts for classification: labeled screening CTs, and unseen inpatient CTs."""

from __future__ import annotations

import logging

import pandas as pd

from workbench.errors import NotFoundError
from workbench.imaging.demo import cohort_labels
from workbench.imaging.demo.roster import ROSTER

logger = logging.getLogger(__name__)


def labeled_cohort(ct_series: pd.DataFrame, n_patients: int) -> pd.DataFrame:
    """The screening cohort's CT series with their ``label`` (ground-glass opacity or normal).

    Parameters
    ----------
    ct_series
        ``archive.series(modality="CT")``.
    n_patients
        Screening patients the demo hospital was loaded with (``workbench demo-data load --cohort-size``).

    Returns
    -------
    pandas.DataFrame
        The series table with a ``label`` column.

    Raises
    ------
    NotFoundError
        If the archive holds none of the cohort's CTs.
    """
    labeled = ct_series.merge(cohort_labels(n_patients)[["series_uid", "label"]], on="series_uid")
    if labeled.empty:
        raise NotFoundError("no screening-cohort CT in the archive: run 'workbench demo-data load' first")
    return labeled


def unseen_inpatients(
    ct_series: pd.DataFrame, n_patients: int, n_unseen: int
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Inpatient CTs never seen in training, with the finding the roster gave each patient.

    Parameters
    ----------
    ct_series
        ``archive.series(modality="CT")``.
    n_patients
        The screening cohort's size (its series are left out).
    n_unseen
        At most this many series.

    Returns
    -------
    series : pandas.DataFrame
        The inpatients' CT series.
    truth : dict
        Patient ID -> the roster's CT finding.
    """
    cohort_series = set(cohort_labels(n_patients)["series_uid"])
    truth = {p.patient_id: p.ct.value for p in ROSTER if p.ct is not None}
    unseen = ct_series[~ct_series["series_uid"].isin(cohort_series) & ct_series["patient_id"].isin(truth)]
    return unseen.head(n_unseen), truth

