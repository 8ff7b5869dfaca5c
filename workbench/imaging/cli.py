"""``workbench studies``, ``workbench series`` and ``workbench fetch``: the archive from the command line.

The server is the configured one (``WORKBENCH_ORTHANC_*`` or ``workbench orthanc start``), or ``--url``
(the password then comes from ``WORKBENCH_ORTHANC_PASSWORD``, never from the command line).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from workbench import config
from workbench.errors import WorkbenchError

logger = logging.getLogger(__name__)

FORMATS = ("table", "csv", "json")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the imaging commands to the ``workbench`` parser."""
    studies = subparsers.add_parser("studies", help="search studies (patient, name, date, modality ...)")
    _filters(studies)
    studies.add_argument("--accession-number")
    studies.set_defaults(func=_studies)

    series = subparsers.add_parser("series", help="list the series of studies")
    _filters(series)
    series.add_argument("--study-uid")
    series.set_defaults(func=_series)

    fetch = subparsers.add_parser("fetch", help="download a series as a volume (.npz, .nii, .nii.gz)")
    fetch.add_argument("series_uid", metavar="SERIES_UID")
    fetch.add_argument("-o", "--output", required=True, type=Path, help="FILE.npz, FILE.nii or FILE.nii.gz")
    fetch.add_argument("--skip-bad", action="store_true", help="leave unreadable instances out (listed)")
    fetch.add_argument(
        "--patient-id", help="the patient whose copy to load, when one series UID is stored under several"
    )
    fetch.add_argument("--no-progress", action="store_true")
    _connection(fetch)
    fetch.set_defaults(func=_fetch)

    cache = subparsers.add_parser(
        "cache", help="the image caches on disk: what they hold, prune to the limit, clear"
    )
    cache.add_argument(
        "action",
        choices=("info", "prune", "clear"),
        nargs="?",
        default="info",
        help="info (default): size per server and the limit; prune: delete least recently used entries "
        "down to the limit; clear: delete every cached image (model responses are never touched)",
    )
    cache.set_defaults(func=_cache)


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="archive URL (default: the configured Orthanc)")
    parser.add_argument("--user", help="user name for --url (password from WORKBENCH_ORTHANC_PASSWORD)")
    parser.add_argument("--kind", choices=("auto", "orthanc", "dicomweb"), default="auto")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--patient-id")
    parser.add_argument("--patient-name", help="wildcards * and ?; romaji, kanji or kana ('*山田*')")
    parser.add_argument("--study-date", help="YYYYMMDD, YYYYMMDD-YYYYMMDD, or open ranges (20240101-)")
    parser.add_argument("--modality", help="CT, MR, CR ... (comma-separated for several)")
    parser.add_argument("--description")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--format", choices=FORMATS, default="table")
    _connection(parser)


def _archive(args: argparse.Namespace):
    from workbench.imaging import connect

    if args.url:
        return connect(args.url, args.user, config.env_value(config.EnvVar.ORTHANC_PASSWORD), kind=args.kind)
    return connect(kind=args.kind)


def _query(args: argparse.Namespace, *names: str) -> dict[str, object]:
    filters: dict[str, object] = {}
    for name in ("patient_id", "patient_name", "study_date", "description", "limit", *names):
        value = getattr(args, name, None)
        if value is not None:
            filters[name] = value
    if args.modality is not None:
        modalities = [m.strip() for m in args.modality.split(",") if m.strip()]
        if not modalities:
            raise WorkbenchError(f"--modality {args.modality!r} names no modality; give e.g. CT or CT,MR")
        filters["modality"] = modalities
    return filters


def _print(frame: pd.DataFrame, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False, date_format="%Y-%m-%d")
    elif fmt == "json":
        sys.stdout.write(
            frame.to_json(orient="records", date_format="iso", force_ascii=False, indent=2) + "\n"
        )
    elif frame.empty:
        print("(no match)", file=sys.stderr)
    else:
        shown = frame.copy()
        for column in shown.select_dtypes("datetime").columns:
            shown[column] = shown[column].dt.strftime("%Y-%m-%d").fillna("")
        print(shown.to_string(index=False))


def _studies(args: argparse.Namespace) -> int:
    query = _query(args, "accession_number")  # a bad filter fails before connecting
    frame = _archive(args).studies(**query)
    columns = (
        frame.columns
        if args.format != "table"
        else [
            "study_date",
            "patient_id",
            "patient_name",
            "modalities",
            "study_description",
            "n_series",
            "study_uid",
        ]
    )
    _print(frame[list(columns)], args.format)
    return 0


def _series(args: argparse.Namespace) -> int:
    query = _query(args, "study_uid")
    frame = _archive(args).series(**query)
    _print(frame, args.format)
    return 0


def _fetch(args: argparse.Namespace) -> int:
    name = args.output.name.lower()
    if not name.endswith((".npz", ".nii", ".nii.gz")):
        raise WorkbenchError(f"output {args.output} must end in .npz, .nii or .nii.gz")
    _check_writable(args.output)  # before the download, not after it
    volume = _archive(args).load_series(
        args.series_uid, patient_id=args.patient_id, progress=not args.no_progress, skip_bad=args.skip_bad
    )
    path = volume.save(args.output)
    skipped = volume.metadata.get("skipped") or []
    for item in skipped:
        print(f"skipped {item['sop_instance_uid']}: {item['reason']}", file=sys.stderr)
    sx, sy, sz = volume.spacing
    print(
        f"{path}: {volume.array.shape[0]} slices of {volume.array.shape[1]}x{volume.array.shape[2]}, "
        f"spacing {sx:.3g} x {sy:.3g} x {sz:.3g} mm, {volume.array.dtype}"
    )
    return 0


def _check_writable(path: Path) -> None:
    """Fail now, before the download, if ``path`` cannot be written."""
    from workbench.files import check_can_create

    if path.is_dir():
        raise WorkbenchError(f"cannot write -o {path}: it is a folder; name a file")
    try:
        check_can_create(path.parent)
    except WorkbenchError as exc:
        raise WorkbenchError(f"-o {path}: {exc}") from None


def _cache(args: argparse.Namespace) -> int:
    from workbench import config
    from workbench.imaging.cache import clear_all, image_cache_limit, prune, usage

    root = config.cache_dir()
    limit = image_cache_limit(root)
    if args.action == "clear":
        freed = clear_all(root)
        print(f"cleared the image caches in {root} ({freed / 1e9:.2f} GB)")
        return 0
    if args.action == "prune":
        if limit is None:
            print("no image cache limit is set (WORKBENCH_IMAGE_CACHE_MAX_GB=0): nothing to prune")
            return 0
        removed, freed = prune(limit, root)
        print(f"deleted {removed} entries ({freed / 1e9:.2f} GB); limit {limit / 1e9:.1f} GB")
        return 0
    table = usage(root)
    shown = "no limit" if limit is None else f"{limit / 1e9:.1f} GB"
    print(f"image caches in {root}: {table.gb.sum():.2f} GB of {shown} (WORKBENCH_IMAGE_CACHE_MAX_GB)")
    if not table.empty:
        table["gb"] = table["gb"].round(3)
        print(table.to_string(index=False))
    return 0
