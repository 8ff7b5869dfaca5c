"""``workbench slides`` and ``workbench fetch-region``: whole-slide images from the command line."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.files import atomic_write
from workbench.imaging.cli import FORMATS, _archive, _connection, _print

OUTPUT_SUFFIXES = (".png", ".npy")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the slide commands to the ``workbench`` parser."""
    slides = subparsers.add_parser(
        "slides", help="search whole-slide images (levels, size, µm/pixel, specimen, stain)"
    )
    slides.add_argument("--patient-id")
    slides.add_argument("--patient-name", help="wildcards * and ?; romaji, kanji or kana ('*山田*')")
    slides.add_argument("--study-date", help="YYYYMMDD, YYYYMMDD-YYYYMMDD, or open ranges (20240101-)")
    slides.add_argument("--study-uid")
    slides.add_argument("--description", help="series description")
    slides.add_argument("--limit", type=int)
    slides.add_argument("--format", choices=FORMATS, default="table")
    _connection(slides)
    slides.set_defaults(func=_slides)

    region = subparsers.add_parser(
        "fetch-region", help="read one region of a slide into a PNG (only the tiles it needs are fetched)"
    )
    region.add_argument("series_uid", metavar="SERIES_UID")
    region.add_argument("--level", type=int, default=0, help="pyramid level (0: full resolution)")
    region.add_argument("--x", type=int, required=True, help="left edge, in pixels of level 0")
    region.add_argument("--y", type=int, required=True, help="top edge, in pixels of level 0")
    region.add_argument("--width", type=int, required=True, help="in pixels of --level")
    region.add_argument("--height", type=int, required=True, help="in pixels of --level")
    region.add_argument("-o", "--output", required=True, type=Path, help="FILE.png or FILE.npy")
    _connection(region)
    region.set_defaults(func=_fetch_region)


def _slides(args: argparse.Namespace) -> int:
    filters = {
        name: getattr(args, name)
        for name in ("patient_id", "patient_name", "study_date", "study_uid", "description", "limit")
        if getattr(args, name) is not None
    }
    frame = _archive(args).slides(**filters)
    if args.format == "table":
        frame = frame.drop(columns=["study_uid"]).assign(patient_id=frame.patient_id.str.slice(0, 12))
    _print(frame, args.format)
    return 0


def _fetch_region(args: argparse.Namespace) -> int:
    import numpy as np

    suffix = args.output.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise WorkbenchError(f"output {args.output} must end in {' or '.join(OUTPUT_SUFFIXES)}")
    if not args.output.parent.is_dir():
        raise WorkbenchError(
            f"folder {args.output.parent} of output {args.output} does not exist; create it first"
        )
    slide = _archive(args).open_slide(args.series_uid)
    region = slide.read_region((args.x, args.y), args.level, (args.width, args.height))
    if suffix == ".npy":
        atomic_write(args.output, lambda fh: np.save(fh, region, allow_pickle=False), mode=0o600)
    else:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(region).save(buffer, format="PNG")
        atomic_write(args.output, buffer.getvalue(), mode=0o600)
    print(
        f"{args.output}: {args.width}x{args.height} pixels of level {args.level} at ({args.x}, {args.y}); "
        f"{slide.stats.frames_fetched} tile(s) fetched, {slide.stats.frames_cached} from the cache"
    )
    return 0
