"""``workbench review export|import``: physician review of drafts on a blinded sheet.

Imports are deferred to the handlers: ``workbench --help`` need not load pandas.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``review`` and its actions to the ``workbench`` command."""
    review = subparsers.add_parser(
        "review", help="physician review of generated drafts outside JupyterLab (blinded sheet out and in)"
    )
    actions = review.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="drafts to a blinded review sheet (CSV, XLSX) and its key")
    export.add_argument("generation_ids", nargs="+", metavar="GENERATION_ID",
                        help="generations to review (ids from 'workbench history')")
    export.add_argument("-o", "--out", type=Path, required=True, help="folder for the sheet and the key")
    export.add_argument("--seed", type=int, default=0, help="seed of the shuffle (default 0)")
    export.add_argument("--name", default="review", help="file name prefix (default: review)")
    export.set_defaults(func=_export)
    import_ = actions.add_parser("import", help="store the accepted text of a filled review sheet")
    import_.add_argument("sheet", type=Path, help="the filled sheet (.csv or .xlsx)")
    import_.add_argument("--key", type=Path, required=True, help="the key file written with the sheet")
    import_.add_argument("--reviewer", help="who reviewed (default: the sheet's file name)")
    import_.set_defaults(func=_import)


def _export(args: argparse.Namespace) -> int:
    from workbench.evaluation.review_sheet import export_review_sheet
    from workbench.summary.history import History

    paths = export_review_sheet(History(), args.generation_ids, args.out, seed=args.seed, name=args.name)
    print(f"sheet: {paths.csv}\nsheet: {paths.xlsx}\nkey (keep away from reviewers): {paths.key}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from workbench.evaluation.review_sheet import import_review_sheet
    from workbench.summary.history import History

    reviews = import_review_sheet(History(), args.sheet, args.key, reviewer=args.reviewer)
    for review in reviews:
        print(f"review {review.id} of {review.generation_id} by {review.reviewer}")
    return 0
