"""``workbench demo-data load|list|labels``: fill an Orthanc with the demo hospital, or show what it holds."""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd

from workbench.imaging.demo import hospital


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo-data`` command."""
    demo = subparsers.add_parser(
        "demo-data", help="the synthetic demo hospital (load it into Orthanc, list it)"
    )
    actions = demo.add_subparsers(dest="action", metavar="ACTION", required=True)

    load = actions.add_parser(
        "load", help="generate the demo hospital and store it in the configured Orthanc (again: adds nothing)"
    )
    _cohort_option(load)
    load.add_argument("--no-progress", action="store_true", help="no progress bar")
    load.add_argument("--details", action="store_true", help="print every series, not only the summary")
    load.set_defaults(func=_load)

    listing = actions.add_parser("list", help="print the series the demo hospital holds (no server needed)")
    _cohort_option(listing)
    listing.add_argument("--format", choices=("table", "csv"), default="table")
    listing.set_defaults(func=_list)

    labels = actions.add_parser("labels", help="print the screening cohort's labels as CSV (for MONAI)")
    _cohort_option(labels)
    labels.add_argument("--slides", action="store_true", help="the pathology slides' labels instead")
    labels.add_argument(
        "--masks-dir",
        metavar="DIR",
        help="with --slides: also write each tumour mask to DIR/<series UID>.png",
    )
    labels.set_defaults(func=_labels)


def _cohort_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of patients, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more patients, got {value}")
    return value


def _cohort_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cohort-size",
        type=_cohort_size,
        default=hospital.DEFAULT_COHORT_SIZE,
        metavar="N",
        help=f"patients in the chest-CT screening cohort (default {hospital.DEFAULT_COHORT_SIZE})",
    )


def _load(args: argparse.Namespace) -> int:
    from workbench.imaging.connection import connect
    from workbench.imaging.demo import load

    archive = connect(cache=False)
    started = time.monotonic()
    frame = load(archive, cohort_size=args.cohort_size, progress=not args.no_progress)
    elapsed = time.monotonic() - started
    if args.details:
        print(frame.drop(columns=["study_uid"]).to_string(index=False))
        print()
    print(summary_table(frame).to_string(index=False))
    new = int((frame.status != "already stored").sum())
    print(
        f"\n{len(frame)} series, {int(frame.n_instances.sum())} images in {archive.url}: "
        f"{new} series stored now, {len(frame) - new} already there ({elapsed:.0f} s)."
    )
    for name, reason in frame.attrs.get("skipped", []):
        print(f"skipped {name}: {reason}", file=sys.stderr)
    return 0


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Series and images per cohort and modality, with how many series were new.

    Parameters
    ----------
    frame
        What :func:`workbench.imaging.demo.load` returned.

    Returns
    -------
    pandas.DataFrame
        Columns ``cohort``, ``modality``, ``patients``, ``series``, ``images``, ``new``, ``already_stored``.
    """
    grouped = frame.assign(
        new=frame.status != "already stored", already_stored=frame.status == "already stored"
    ).groupby(["cohort", "modality"], sort=True)
    return grouped.agg(
        patients=("patient_id", "nunique"),
        series=("series_uid", "size"),
        images=("n_instances", "sum"),
        new=("new", "sum"),
        already_stored=("already_stored", "sum"),
    ).reset_index()


def _plan_table(cohort_size: int) -> pd.DataFrame:
    rows = [
        {
            "patient_id": p.subject.patient_id,
            "patient_name": p.subject.name,
            "cohort": p.subject.cohort.value,
            "study_date": p.study_date.isoformat(),
            "modality": p.modality,
            "series_description": p.series_description,
            "finding": p.finding.value if p.finding else "",
            "n_instances": p.n_instances,
            "series_uid": p.series_uid,
        }
        for p in hospital.plans(cohort_size)
    ]
    from workbench.imaging.demo import slides

    rows += [
        {
            "patient_id": p.subject.patient_id,
            "patient_name": p.subject.name,
            "cohort": "pathology",
            "study_date": p.study_date.isoformat(),
            "modality": "SM",
            "series_description": slides.SLIDE_SERIES_DESCRIPTION,
            "finding": p.label,
            "n_instances": slides.SLIDE_LEVELS,
            "series_uid": p.series_uid,
        }
        for p in slides.slide_plans()
    ]
    return pd.DataFrame(rows)


def _list(args: argparse.Namespace) -> int:
    table = _plan_table(args.cohort_size)
    if args.format == "csv":
        table.to_csv(sys.stdout, index=False)
    else:
        shown = table.assign(patient_id=table.patient_id.str.slice(0, 12))
        print(shown.drop(columns=["series_uid"]).to_string(index=False))
    return 0


def _labels(args: argparse.Namespace) -> int:
    if args.slides:
        from workbench.imaging.demo.slides import slide_labels, write_masks

        table = write_masks(args.masks_dir) if args.masks_dir else slide_labels()
        table.to_csv(sys.stdout, index=False)
        return 0
    hospital.cohort_labels(args.cohort_size).to_csv(sys.stdout, index=False)
    return 0
