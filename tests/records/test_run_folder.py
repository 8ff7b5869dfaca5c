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


def test_a_last_line_torn_inside_a_utf8_character_is_dropped_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    whole = json.dumps({"key": "a", "output": "退院サマリー", "error": None}, ensure_ascii=False).encode()
    torn = json.dumps({"key": "b", "output": "退院サマリー"}, ensure_ascii=False).encode()
    cut = torn[: torn.index("院".encode()) + 1]  # one byte into a three-byte character
    (tmp_path / "results.jsonl").write_bytes(whole + b"\n" + cut)
    with caplog.at_level("WARNING"):
        assert [r["key"] for r in read_results(tmp_path)] == ["a"]
    assert "results.jsonl:2 is a torn last line" in caplog.text
    with FileResultsWriter(tmp_path) as writer:  # the next writer cuts it off and starts a new line
        writer.write({"key": "c", "output": "再開", "error": None})
    assert [r["key"] for r in read_results(tmp_path)] == ["a", "c"]


@pytest.mark.parametrize("bad", [b'{"key": "b", "outp', b"\xe9\x80\x80\xe9\x80", b"[1, 2]"])
def test_a_damaged_middle_line_is_refused_with_its_number(tmp_path: Path, bad: bytes) -> None:
    good = [json.dumps({"key": k, "error": None}).encode() for k in "ac"]
    (tmp_path / "results.jsonl").write_bytes(b"\n".join([good[0], bad, good[1]]) + b"\n")
    with pytest.raises(WorkbenchError, match=r"results\.jsonl:2 is not a JSON object.*delete line 2"):
        read_results(tmp_path)


def test_one_damaged_manifest_does_not_hide_the_other_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runs = []
    for day in (1, 2, 3):
        run = create_run_dir(tmp_path / "runs", DESIGN, now=dt.datetime(2025, 1, day, tzinfo=dt.UTC))
        write_manifest(run, {"run_id": run.name, "spec": {"name": "t"}, "spec_hash": DESIGN})
        runs.append(run)
    (runs[1] / "manifest.json").write_bytes(b'{"run_id": "\xe5\x8f')  # cut inside a character
    with caplog.at_level("WARNING"):
        table = list_runs(tmp_path / "runs")
    assert table.run_id.tolist() == [runs[0].name, runs[2].name]
    assert f"skipping run {runs[1].name}" in caplog.text and "manifest.json is damaged" in caplog.text
    assert latest_run_dir(tmp_path / "runs", DESIGN) == runs[2]
    (runs[2] / "manifest.json").write_bytes(b"[]")  # not a mapping: the resume looks past it too
    assert latest_run_dir(tmp_path / "runs", DESIGN) == runs[0]


def test_run_folders_and_results_are_private(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        run = create_run_dir(tmp_path / "runs", DESIGN)
        with FileResultsWriter(run) as writer:
            writer.write({"key": "a", "error": None})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "runs").stat().st_mode) == 0o700
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    assert stat.S_IMODE((run / "results.jsonl").stat().st_mode) == 0o600


class _FillingDisk:
    """A file whose disk fills up: ``room`` more bytes reach the disk, then ENOSPC."""

    def __init__(self, file, room: int) -> None:  # type: ignore[no-untyped-def]
        self._file, self.room = file, room

    def write(self, data: bytes) -> int:
        import errno
        import os

        taken = data[: max(self.room, 0)]
        self._file.write(taken)
        self._file.flush()
        self.room -= len(taken)
        if len(taken) < len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return len(data)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._file, name)


def test_a_full_disk_while_appending_keeps_no_half_row_and_says_so(tmp_path: Path) -> None:
    from workbench.errors import DiskFullError

    row = {"key": "b", "output": "退院サマリー" * 50, "error": None}
    with FileResultsWriter(tmp_path) as writer:
        writer.write({"key": "a", "error": None})
        writer._file = _FillingDisk(writer._file, room=100)  # half of the next row fits
        with pytest.raises(DiskFullError, match=r"results\.jsonl: the disk is full .*--resume"):
            writer.write(row)
        writer.write({"key": "c", "error": None})  # space freed: the writer goes on
    assert [r["key"] for r in read_results(tmp_path)] == ["a", "c"]
    assert (tmp_path / "results.jsonl").read_bytes().count(b"\n") == 2


def test_a_second_process_cannot_take_the_run_lock(tmp_path: Path) -> None:
    import subprocess
    import sys

    from workbench.records.layout import lock_run

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom workbench.records.layout import lock_run\n"
         f"with lock_run({str(tmp_path)!r}):\n    print('locked', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(WorkbenchError, match="is being run by another process"), lock_run(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
    with lock_run(tmp_path):  # the lock died with its process
        pass
