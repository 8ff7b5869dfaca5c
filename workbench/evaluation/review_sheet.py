"""Physician review outside JupyterLab: drafts out to a blinded sheet, accepted text back in.

The sheet works like the rating sheet (:mod:`workbench.evaluation.ratings`): rows shuffled with a seed, each
behind an opaque item id, and a separate key file (never given to reviewers) that maps items to generations.
One row per (draft, section): ``item_id``, ``case_id``, ``section``, ``draft`` (the text without citation
markers) and ``accepted`` (pre-filled with the draft: the reviewer edits it). The key holds the generation,
the section, a SHA-256 of the draft and the time the sheet was written (the review's *opened* time; the
sheet file's modification time is its *accepted* time).

:func:`import_review_sheet` checks everything before it writes anything: every item of the sheet is in the
key and the other way round, every draft is the one the key says (a sheet read with the key of another
export fails), and every generation exists in the history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.errors import NotFoundError, WorkbenchError
from workbench.evaluation.ratings import read_sheet
from workbench.files import atomic_write
from workbench.summary.history import History
from workbench.summary.review import Review, draft_sections, get_review_generation, open_review_store

logger = logging.getLogger(__name__)

SHEET_NAME = "review"
SHEET_COLUMNS = ("item_id", "case_id", "section", "draft", "accepted")
KEY_COLUMNS = ("item_id", "generation_id", "section", "draft_sha256", "opened_at")


@dataclass(frozen=True)
class ReviewSheet:
    """The files of an exported review sheet: ``csv`` and ``xlsx`` for reviewers, ``key`` kept apart."""

    csv: Path
    xlsx: Path
    key: Path


def _sha(text: object) -> str:
    return hashlib.sha256(("" if pd.isna(text) else str(text)).encode("utf-8")).hexdigest()


def export_review_sheet(
    history: History,
    generation_ids: Sequence[str],
    out_dir: str | Path,
    *,
    seed: int = 0,
    name: str = "review",
) -> ReviewSheet:
    """Write the drafts of ``generation_ids`` as a blinded review sheet.

    Parameters
    ----------
    history : History
    generation_ids : sequence of str
    out_dir : str or pathlib.Path
        Folder for ``<name>_sheet.csv``, ``<name>_sheet.xlsx`` and ``<name>_key.csv`` (created, private).
    seed : int
        Seed of the shuffle.
    name : str
        File name prefix.

    Returns
    -------
    ReviewSheet

    Raises
    ------
    NotFoundError
        If a generation does not exist, or none is given (nothing is written).
    """
    if not generation_ids:
        raise NotFoundError("no generations to review: name at least one generation id")
    opened = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    rows = []
    for generation_id in dict.fromkeys(generation_ids):
        generation = get_review_generation(history, generation_id)
        for section, text in draft_sections(generation).items():
            rows.append({"generation_id": generation.id, "case_id": generation.case_id, "section": section,
                         "draft": text})
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=np.random.RandomState(seed))
    frame = frame.reset_index(drop=True)
    frame.insert(0, "item_id", [f"item-{i + 1:04d}" for i in range(len(frame))])
    frame["accepted"] = frame["draft"]
    frame["draft_sha256"] = [_sha(t) for t in frame["draft"]]
    frame["opened_at"] = opened
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = ReviewSheet(out / f"{name}_sheet.csv", out / f"{name}_sheet.xlsx", out / f"{name}_key.csv")
    sheet = frame[list(SHEET_COLUMNS)]
    atomic_write(paths.csv, sheet.to_csv(index=False).encode("utf-8-sig"), mode=0o600)
    atomic_write(paths.xlsx, lambda fh: sheet.to_excel(fh, sheet_name=SHEET_NAME, index=False), mode=0o600)
    atomic_write(paths.key, frame[list(KEY_COLUMNS)].to_csv(index=False).encode("utf-8"), mode=0o600)
    logger.info("wrote a review sheet of %d sections of %d drafts to %s", len(frame),
                frame["generation_id"].nunique(), out)
    return paths


def import_review_sheet(
    history: History, sheet: str | Path, key: str | Path, *, reviewer: str | None = None
) -> list[Review]:
    """Read a filled review sheet and store one accepted review per draft.

    Parameters
    ----------
    history : History
        Where the generations are; the reviews go beside them.
    sheet, key : str or pathlib.Path
        The filled sheet (``.csv`` or ``.xlsx``) and the key written with it.
    reviewer : str, optional
        Who reviewed (default: the sheet's file stem).

    Returns
    -------
    list of Review
        As stored.

    Raises
    ------
    NotFoundError
        If a file or a generation does not exist.
    WorkbenchError
        If the sheet's columns or items do not match the key, or a draft differs from the one exported.
        Nothing is written then.
    """
    sheet_path, key_path = Path(sheet), Path(key)
    filled = read_sheet(sheet_path, sheet_name=SHEET_NAME)
    if not key_path.is_file():
        raise NotFoundError(f"review key {key_path} does not exist")
    key_frame = pd.read_csv(key_path, dtype={"item_id": str})
    missing = [c for c in SHEET_COLUMNS if c not in filled.columns]
    missing_key = [c for c in KEY_COLUMNS if c not in key_frame.columns]
    if missing or missing_key:
        raise WorkbenchError(
            f"{sheet_path if missing else key_path}: columns {missing or missing_key} are missing; "
            "use the files 'workbench review export' wrote"
        )
    if set(filled["item_id"]) != set(key_frame["item_id"]):
        raise WorkbenchError(
            f"{sheet_path}: its items do not match {key_path}; give the key written with this sheet"
        )
    merged = filled.merge(key_frame, on="item_id", suffixes=("", "_key"))
    changed = merged[[_sha(d) != s for d, s in zip(merged["draft"], merged["draft_sha256"], strict=True)]]
    if not changed.empty or (merged["section"] != merged["section_key"]).any():
        first = changed["item_id"].iloc[0] if not changed.empty else merged["item_id"].iloc[0]
        raise WorkbenchError(
            f"{sheet_path}: the draft of {first} is not the one in {key_path}; the key does not match this "
            "sheet (or the draft column was edited: edit only 'accepted')"
        )
    for generation_id in merged["generation_id"].unique():
        get_review_generation(history, generation_id)
    accepted_at = (
        dt.datetime.fromtimestamp(sheet_path.stat().st_mtime).astimezone().isoformat(timespec="seconds")
    )
    who = reviewer or sheet_path.stem
    reviews = []
    for generation_id, rows in merged.groupby("generation_id", sort=True):
        text = {r.section: ("" if pd.isna(r.accepted) else str(r.accepted)) for r in rows.itertuples()}
        draft = {r.section: ("" if pd.isna(r.draft) else str(r.draft)) for r in rows.itertuples()}
        reviews.append(
            Review(
                id=_sha(f"{key_path.resolve()}|{generation_id}|{accepted_at}")[:32],
                generation_id=str(generation_id),
                reviewer=who,
                opened_at=str(rows["opened_at"].iloc[0]),
                draft=draft,
                accepted=text,
                accepted_at=accepted_at,
                channel="sheet",
            )
        )
    store = open_review_store(history)
    for review in reviews:
        store.record(review)
    logger.info("imported %d reviews from %s", len(reviews), sheet_path)
    return reviews
