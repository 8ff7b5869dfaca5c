"""Reading a run folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import NotFoundError
from workbench.evaluation.runs import latest_run, load_run
from workbench.records.schema import RESULT_COLUMNS


def test_load_run(sample_run: Path) -> None:
    manifest, results = load_run(sample_run)
    assert manifest["run_id"] == sample_run.name
    assert len(results) == 2 * 2 * 2 * 4 + 4  # plus a second repeat of one configuration
    assert results["key"].is_unique  # the failed call's retry replaced it; the truncated line is skipped
    assert results["ok"].all() and results["error"].isna().all()
    assert list(results.columns[: len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS)


def test_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="is not a run folder"):
        load_run(tmp_path)


def test_latest_run(sample_run: Path, tmp_path: Path) -> None:
    assert latest_run(sample_run.parent) == sample_run.resolve()
    older = tmp_path / "20200101T000000-old"
    older.mkdir()
    (older / "manifest.json").write_text("{}")
    (tmp_path / "demo").mkdir()  # executed notebooks, not a run
    assert latest_run(tmp_path) == older.resolve()
    with pytest.raises(NotFoundError, match="no run folder"):
        latest_run(tmp_path / "demo")
