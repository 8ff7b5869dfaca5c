"""The run folder: ids, the results log (concurrent appends, truncated tails), listing."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest

from workbench.errors import NotFoundError, WorkbenchError
from workbench.experiments.manifest import write_manifest
from workbench.experiments.rundir import (
    ResultsWriter,
    create_run_dir,
    default_runs_dir,
    done_keys,
    latest_rows,
    latest_run_dir,
    list_runs,
    read_results,
)
from workbench.experiments.spec import load_spec


def test_run_ids_sort_by_time_and_carry_the_design_hash(tmp_path: Path, write_spec) -> None:
    spec = load_spec(write_spec())
    early = create_run_dir(tmp_path, spec, now=dt.datetime(2025, 3, 1, 10, 15, tzinfo=dt.UTC))
    same_second = create_run_dir(tmp_path, spec, now=dt.datetime(2025, 3, 1, 10, 15, tzinfo=dt.UTC))
    late = create_run_dir(tmp_path, spec, now=dt.datetime(2025, 3, 2, 9, 0, tzinfo=dt.UTC))
    assert early.name == f"20250301T101500-{spec.design_hash()}"
    assert same_second.name == f"{early.name}-2"
    assert sorted([late.name, same_second.name, early.name]) == [early.name, same_second.name, late.name]


def test_latest_run_dir_finds_the_newest_run_of_the_same_design(tmp_path: Path, write_spec) -> None:
    spec = load_spec(write_spec())
    with pytest.raises(NotFoundError, match="no earlier run"):
        latest_run_dir(tmp_path, spec)
    other = spec.replace(repeats=2)
    for when, s in ((1, spec), (2, spec), (3, other)):
        run = create_run_dir(tmp_path, s, now=dt.datetime(2025, 1, when, tzinfo=dt.UTC))
        write_manifest(run, {"run_id": run.name, "spec_hash": s.design_hash()})
    assert latest_run_dir(tmp_path, spec).name.startswith("20250102")
    assert latest_run_dir(tmp_path, other).name.startswith("20250103")


def test_default_runs_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WORKBENCH_RUNS_DIR", raising=False)
    assert default_runs_dir() == Path("runs")
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(tmp_path))
    assert default_runs_dir() == tmp_path


def test_concurrent_writes_give_whole_lines(tmp_path: Path) -> None:
    with ResultsWriter(tmp_path) as writer:
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
    with ResultsWriter(tmp_path) as writer:
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


def test_list_runs(tmp_path: Path, write_spec) -> None:
    assert list_runs(tmp_path).empty
    spec = load_spec(write_spec())
    run = create_run_dir(tmp_path, spec)
    write_manifest(run, {"run_id": run.name, "spec": spec.to_dict(), "created": "now", "n_calls": 3})
    with ResultsWriter(run) as writer:
        writer.write({"key": "a", "cost_usd": 0.5, "cache_hit": False, "error": None})
        writer.write({"key": "b", "cost_usd": 0.0, "cache_hit": True, "error": None})
        writer.write({"key": "c", "cost_usd": 0.0, "cache_hit": False, "error": "BackendError: down"})
    (tmp_path / "not-a-run").mkdir()
    frame = list_runs(tmp_path)
    assert frame.to_dict("records") == [{
        "run_id": run.name, "name": "test", "created": "now", "planned": 3, "done": 2, "errors": 1,
        "cache_hits": 1, "cost_usd": 0.5, "path": str(run),
    }]
