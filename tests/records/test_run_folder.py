"""The run folder: ids, the results log (concurrent appends, truncated tails), listing."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest

from workbench.errors import NotFoundError, WorkbenchError
from workbench.records.layout import create_run_dir, default_runs_dir
from workbench.records.manifest import latest_run_dir, write_manifest
from workbench.records.results import (
    FileResultsWriter,
    done_keys,
    latest_rows,
    list_runs,
    open_results,
    read_results,
)

DESIGN = "3fa2b9c1"
OTHER = "77aa00ee"


def test_run_ids_sort_by_time_and_carry_the_design_hash(tmp_path: Path) -> None:
    early = create_run_dir(tmp_path, DESIGN, now=dt.datetime(2025, 3, 1, 10, 15, tzinfo=dt.UTC))
    same_second = create_run_dir(tmp_path, DESIGN, now=dt.datetime(2025, 3, 1, 10, 15, tzinfo=dt.UTC))
    late = create_run_dir(tmp_path, DESIGN, now=dt.datetime(2025, 3, 2, 9, 0, tzinfo=dt.UTC))
    assert early.name == f"20250301T101500-{DESIGN}"
    assert same_second.name == f"{early.name}-2"
    assert sorted([late.name, same_second.name, early.name]) == [early.name, same_second.name, late.name]


def test_latest_run_dir_finds_the_newest_run_of_the_same_design(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no earlier run of spec 'test'"):
        latest_run_dir(tmp_path, DESIGN, name="test")
    for when, design in ((1, DESIGN), (2, DESIGN), (3, OTHER)):
        run = create_run_dir(tmp_path, design, now=dt.datetime(2025, 1, when, tzinfo=dt.UTC))
        write_manifest(run, {"run_id": run.name, "spec_hash": design})
    assert latest_run_dir(tmp_path, DESIGN).name.startswith("20250102")
    assert latest_run_dir(tmp_path, OTHER).name.startswith("20250103")


def test_default_runs_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WORKBENCH_RUNS_DIR", raising=False)
    assert default_runs_dir() == Path("runs")
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(tmp_path))
    assert default_runs_dir() == tmp_path


def test_concurrent_writes_give_whole_lines(tmp_path: Path) -> None:
    with FileResultsWriter(tmp_path) as writer:
        def write(thread: int) -> None:
            for i in range(50):
                writer.write({"key": f"{thread}-{i}", "output": "退院サマリー" * 100, "error": None})

        threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    rows = read_results(tmp_path)
    assert len(rows) == 400 and len({r["key"] for r in rows}) == 400


def test_a_truncated_tail_is_ignored_then_cut_off(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps({"key": "a", "error": None}) + '\n{"key": "b", "outp', encoding="utf-8")
    assert [r["key"] for r in read_results(tmp_path)] == ["a"]
    with FileResultsWriter(tmp_path) as writer:
        writer.write({"key": "c", "error": None})
    assert results.read_text(encoding="utf-8").splitlines()[1] == '{"key": "c", "error": null}'
    assert [r["key"] for r in read_results(tmp_path)] == ["a", "c"]


def test_damage_before_the_last_line_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "results.jsonl").write_text('{"key": "a"}\nnot json\n{"key": "b"}\n', encoding="utf-8")
    with pytest.raises(WorkbenchError, match=r"results.jsonl:2 is not a JSON object"):
        read_results(tmp_path)


def test_the_last_row_of_a_key_counts() -> None:
    rows = [{"key": "a", "error": "ThrottledError: slow down"}, {"key": "b", "error": None},
            {"key": "a", "error": None, "output": "ok"}, {"key": "c", "error": "BackendError: no"}]
    assert [r.get("output") for r in latest_rows(rows) if r["key"] == "a"] == ["ok"]
    assert done_keys(rows) == {"a", "b"}


def test_list_runs(tmp_path: Path) -> None:
    assert list_runs(tmp_path).empty
    run = create_run_dir(tmp_path, DESIGN)
    write_manifest(run, {"run_id": run.name, "spec": {"name": "test"}, "created": "now", "n_calls": 3})
    with open_results(run) as writer:
        writer.write({"key": "a", "cost_usd": 0.5, "cache_hit": False, "error": None})
        writer.write({"key": "b", "cost_usd": 0.0, "cache_hit": True, "error": None})
        writer.write({"key": "c", "cost_usd": 0.0, "cache_hit": False, "error": "BackendError: down"})
    (tmp_path / "not-a-run").mkdir()
    frame = list_runs(tmp_path)
    assert frame.to_dict("records") == [{
        "run_id": run.name, "name": "test", "created": "now", "planned": 3, "done": 2, "errors": 1,
        "cache_hits": 1, "cost_usd": 0.5, "path": str(run),
    }]


def test_open_results_writes_the_local_file_without_shared_storage(tmp_path: Path) -> None:
    with open_results(tmp_path) as writer:
        assert isinstance(writer, FileResultsWriter)
        writer.write({"key": "a", "error": None})
    assert read_results(tmp_path) == [{"key": "a", "error": None}]
