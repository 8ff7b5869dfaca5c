"""Physician ratings: a blinded rating sheet out, the filled sheet back in, and agreement with the judge.

The sheet (CSV and XLSX) lists summaries in a shuffled order (seeded), each behind an opaque item id; which
prompt version, model and source produced an item is in a separate key file that raters never see. The
physician's own summary of each case can be mixed in, equally blinded, to anchor the scale. Raters fill one
1-5 score per criterion of :data:`workbench.evaluation.judge.CRITERIA`. :func:`import_ratings` reads a filled
sheet (either format), checks every score, and joins the key back; :func:`judge_agreement` compares the
physicians with the LLM judge per criterion: Spearman's rho (SciPy) and ICC(2,1).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.errors import NotFoundError, WorkbenchError
from workbench.evaluation.judge import CRITERIA
from workbench.evaluation.score import reference_row
from workbench.evaluation.stats import icc2_1
from workbench.files import atomic_write, make_folder
from workbench.summary.cases import Case

logger = logging.getLogger(__name__)

KEY_COLUMNS = ("item_id", "key", "prompt_version", "model", "source", "case_id", "repeat")
SHEET_FIXED = ("item_id", "case_id", "summary")
COMMENT_COLUMN = "comment"


@dataclass(frozen=True)
class RatingSheet:
    """The files of an exported sheet.

    Attributes
    ----------
    csv, xlsx : Path
        The sheet for raters (same content).
    key : Path
        Item id -> key, prompt version, model, source, case, repeat. Keep it away from raters.
    """

    csv: Path
    xlsx: Path
    key: Path


def export_sheet(
    results: pd.DataFrame,
    cases: Mapping[str, Case],
    out_dir: str | Path,
    *,
    seed: int = 0,
    include_reference: bool = True,
    repeat: int | None = 0,
    name: str = "ratings",
) -> RatingSheet:
    """Write a blinded rating sheet for the outputs of a run.

    Parameters
    ----------
    results
        The run's results (:func:`workbench.evaluation.runs.load_run`); only rows with ``ok`` are rated.
    cases
        The run's cases by id (for the physician's summaries).
    out_dir
        Folder for ``<name>_sheet.csv``, ``<name>_sheet.xlsx`` and ``<name>_key.csv``.
    seed
        Seed of the shuffle.
    include_reference
        Mix in the physician's summary of every case, blinded like the rest.
    repeat
        Rate only this repeat of each call (default 0; None: every repeat).
    name
        File name prefix.

    Returns
    -------
    RatingSheet
    """
    items = results[results["ok"]] if "ok" in results else results
    if repeat is not None:
        items = items[items["repeat"] == repeat]
    frame = items[["key", "prompt_version", "model", "source", "case_id", "repeat", "output"]].rename(
        columns={"output": "summary"}
    )
    if include_reference and not frame.empty:
        # One physician item per case, keyed as score_run keys it for the source "both" (or the run's first).
        sources = set(frame["source"])
        source = "both" if "both" in sources else sorted(sources)[0]
        physician = [
            {**reference_row(case_id, source), "summary": cases[case_id].reference}
            for case_id in sorted(set(frame["case_id"]))
            if case_id in cases and cases[case_id].reference
        ]
        frame = pd.concat([frame, pd.DataFrame(physician)], ignore_index=True)
    if frame.empty:
        raise NotFoundError("nothing to rate: the run has no successful outputs")
    frame = frame.sample(frac=1.0, random_state=np.random.RandomState(seed)).reset_index(drop=True)
    frame.insert(0, "item_id", [f"item-{i + 1:04d}" for i in range(len(frame))])
    out = Path(out_dir)
    make_folder(out)
    sheet = frame[list(SHEET_FIXED)].copy()
    for criterion in CRITERIA:
        sheet[criterion] = pd.NA
    sheet[COMMENT_COLUMN] = pd.NA
    paths = RatingSheet(out / f"{name}_sheet.csv", out / f"{name}_sheet.xlsx", out / f"{name}_key.csv")
    # BOM: Excel opens Japanese CSV correctly
    atomic_write(paths.csv, sheet.to_csv(index=False).encode("utf-8-sig"))
    _write_xlsx(sheet, paths.xlsx)
    key = frame[list(KEY_COLUMNS)].copy()
    key["summary_sha256"] = [hashlib.sha256(str(s).encode("utf-8")).hexdigest() for s in frame["summary"]]
    atomic_write(paths.key, key.to_csv(index=False).encode("utf-8"))
    logger.info("wrote a rating sheet of %d items to %s", len(frame), out)
    return paths


def _write_xlsx(sheet: pd.DataFrame, path: Path) -> None:
    """The sheet as a workbook: instructions, wrapped summaries, 1-5 validation on the score columns."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    ws = book.active
    ws.title = "ratings"
    ws.append(list(sheet.columns))
    for row in sheet.itertuples(index=False):
        ws.append([None if pd.isna(v) else v for v in row])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "D2"
    widths = {"item_id": 11, "case_id": 10, "summary": 80, COMMENT_COLUMN: 40}
    for index, column in enumerate(sheet.columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = widths.get(column, 14)
    for row in ws.iter_rows(min_row=2, min_col=3, max_col=3):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")
    first = get_column_letter(len(SHEET_FIXED) + 1)
    last = get_column_letter(len(SHEET_FIXED) + len(CRITERIA))
    validation = DataValidation(
        type="whole",
        operator="between",
        formula1="1",
        formula2="5",
        allow_blank=True,
        showErrorMessage=True,
        error="1から5の整数で入力してください (an integer 1-5)",
    )
    ws.add_data_validation(validation)
    validation.add(f"{first}2:{last}{len(sheet) + 1}")
    guide = book.create_sheet("criteria")
    guide.append(["criterion", "meaning (1 = worst, 5 = best)"])
    for key, text in CRITERIA.items():
        guide.append([key, text])
    guide.column_dimensions["B"].width = 110
    atomic_write(path, book.save)


def read_sheet(path: Path, *, sheet_name: str = "ratings") -> pd.DataFrame:
    """A filled sheet (``.csv`` or ``.xlsx``, the worksheet ``sheet_name``), item ids as text.

    Raises
    ------
    NotFoundError
        If the file does not exist.
    """
    if not path.is_file():
        raise NotFoundError(f"{sheet_name} sheet {path} does not exist")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return pd.read_excel(path, sheet_name=sheet_name, dtype={"item_id": str})
    return pd.read_csv(path, encoding="utf-8-sig", dtype={"item_id": str})


def import_ratings(sheet: str | Path, key: str | Path, *, rater: str | None = None) -> pd.DataFrame:
    """Read a filled rating sheet and unblind it with its key.

    Parameters
    ----------
    sheet
        The filled sheet (``.csv`` or ``.xlsx``).
    key
        The key file written with it.
    rater
        Who rated (default: the sheet's file stem).

    Returns
    -------
    pandas.DataFrame
        Long format, one row per rated (item, criterion): the key columns, ``rater``, ``criterion``,
        ``score``. Blank cells are skipped.

    Raises
    ------
    WorkbenchError
        If the sheet's columns or items do not match the key, or a score is not an integer 1-5 (naming the
        file, row and column).
    """
    sheet_path, key_path = Path(sheet), Path(key)
    filled = read_sheet(sheet_path)
    if not key_path.is_file():
        raise NotFoundError(f"rating key {key_path} does not exist")
    key_frame = pd.read_csv(key_path, dtype={"item_id": str})
    missing = [c for c in ("item_id", *CRITERIA) if c not in filled.columns]
    if missing:
        raise WorkbenchError(
            f"{sheet_path}: columns {missing} are missing; fill the sheet that export_sheet wrote"
        )
    unknown = sorted(set(filled["item_id"]) - set(key_frame["item_id"]))
    if unknown:
        raise WorkbenchError(
            f"{sheet_path}: items {unknown[:5]} are not in {key_path}; is it the key of this sheet?"
        )
    records = []
    for offset, row in enumerate(filled.itertuples(index=False)):
        line = offset + 2  # header is line 1
        values = row._asdict()
        for criterion in CRITERIA:
            value = values[criterion]
            if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
                continue
            try:
                number = float(str(value).strip())
            except ValueError:
                number = math.nan
            if math.isnan(number) or not number.is_integer() or not 1 <= number <= 5:
                raise WorkbenchError(
                    f"{sheet_path}:{line}: {criterion} of {values['item_id']} is {value!r}; "
                    "expected an integer 1-5"
                )
            records.append({"item_id": values["item_id"], "criterion": criterion, "score": int(number)})
    scores = pd.DataFrame(records, columns=["item_id", "criterion", "score"])
    scores.insert(1, "rater", rater or sheet_path.stem)
    merged = scores.merge(key_frame[list(KEY_COLUMNS)], on="item_id", how="left")
    logger.info(
        "imported %d scores of %d items from %s", len(merged), merged["item_id"].nunique(), sheet_path
    )
    return merged[[*KEY_COLUMNS, "rater", "criterion", "score"]]


RATINGS_FILE = "ratings.csv"
"""Where a run's imported physician ratings are kept (``<run_dir>/ratings.csv``), for its report."""


def save_ratings(ratings: pd.DataFrame, run_dir: str | Path) -> Path:
    """Keep imported ratings with their run, so ``workbench experiment report`` shows judge agreement.

    Parameters
    ----------
    ratings
        :func:`import_ratings` output (several raters' sheets concatenated).
    run_dir
        The run folder.

    Returns
    -------
    pathlib.Path
        ``<run_dir>/ratings.csv`` (written atomically, private).
    """
    from workbench.files import atomic_write

    path = Path(run_dir) / RATINGS_FILE
    atomic_write(path, ratings.to_csv(index=False).encode("utf-8"), mode=0o600)
    return path


def load_ratings(run_dir: str | Path) -> pd.DataFrame | None:
    """The ratings :func:`save_ratings` kept with a run, or None."""
    path = Path(run_dir) / RATINGS_FILE
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={"item_id": str})


def judge_agreement(
    ratings: pd.DataFrame, judged: pd.DataFrame, *, criteria: Sequence[str] | None = None
) -> pd.DataFrame:
    """Agreement between physicians and the LLM judge, per criterion.

    Parameters
    ----------
    ratings
        :func:`import_ratings` output (several raters are averaged per item).
    judged
        Judge results with ``key`` and ``judge_<criterion>`` columns (:meth:`Judge.judge_frame`).
    criteria
        Default: all of :data:`CRITERIA`.

    Returns
    -------
    pandas.DataFrame
        criterion, n (items rated by both), spearman_rho, spearman_p, icc2_1 (judge vs the physicians' mean
        as two raters), physician_icc2_1 (between physicians, when at least two rated the same items).
    """
    from scipy.stats import spearmanr

    records = []
    for criterion in criteria or list(CRITERIA):
        subset = ratings[ratings["criterion"] == criterion]
        physician = subset.groupby("key")["score"].mean()
        column = f"judge_{criterion}"
        judge = judged.set_index("key")[column] if column in judged else pd.Series(dtype=float)
        both = pd.concat(
            [physician.rename("physician"), judge.rename("judge")], axis=1, join="inner"
        ).dropna()
        rho = p = math.nan
        if len(both) >= 3 and both["physician"].nunique() > 1 and both["judge"].nunique() > 1:
            result = spearmanr(both["judge"], both["physician"])
            rho, p = float(result.statistic), float(result.pvalue)
        by_rater = subset.pivot_table(index="key", columns="rater", values="score", aggfunc="mean")
        records.append(
            {
                "criterion": criterion,
                "n": len(both),
                "spearman_rho": rho,
                "spearman_p": p,
                "icc2_1": icc2_1(both[["judge", "physician"]].to_numpy()) if len(both) else math.nan,
                "physician_icc2_1": icc2_1(by_rater.to_numpy()) if by_rater.shape[1] >= 2 else math.nan,
            }
        )
    return pd.DataFrame(records)
