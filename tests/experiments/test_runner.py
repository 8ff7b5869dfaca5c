"""The runner against counting backends: resume, cache, budget, throttling, failures, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from workbench.errors import BudgetError, NotFoundError, SpecError
from workbench.experiments import runner
from workbench.experiments.plan import build_plan
from workbench.experiments.ratelimit import Backoff, RateLimiter
from workbench.experiments.runner import run_experiment
from workbench.experiments.spec import load_spec
from workbench.records.manifest import read_manifest
from workbench.records.results import read_results
from workbench.records.schema import RESULT_COLUMNS
from workbench.summary.cases import Source
from workbench.summary.identity import local_user
from workbench.summary.prompts import PromptRegistry

FAST = Backoff(attempts=4, base_s=0.001, max_s=0.002)


def _keys(run_dir: Path) -> list[str]:
    return [row["key"] for row in read_results(run_dir)]


def test_a_run_records_every_call_with_the_contract_fields(tmp_path: Path, backends, write_spec) -> None:
    spec = load_spec(write_spec(prompts=["v1", "v2"], sources=["doctor", "both"], repeats=2))
    result = run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    assert result.complete and result.n_made == 16 == backends.n_calls  # 2 cases x 2 x 2 x 2
    rows = read_results(result.run_dir)
    assert len(rows) == 16 and len(set(_keys(result.run_dir))) == 16
    assert list(rows[0]) == list(RESULT_COLUMNS)  # every field of the schema, in its order
    assert {r["repeat"] for r in rows} == {0, 1} and {r["source"] for r in rows} == {"doctor", "both"}
    assert all(r["error"] is None and r["cache_hit"] is False and r["output"] for r in rows)
    assert all(r["run_id"] == result.run_dir.name for r in rows)
    # who generated each row, and (no $(imaging) in these prompts, no AWS backend) nothing more
    assert {(r["user"], r["imaging"], r["aws_identity"]) for r in rows} == {(local_user().name, "", "")}
    manifest = read_manifest(result.run_dir)
    assert manifest["run_id"] == result.run_dir.name and manifest["n_calls"] == 16
    assert set(manifest["cases"]) == {r["case_id"] for r in rows}
    assert all(Path(p).is_dir() for p in manifest["cases"].values())
    assert manifest["prompt_hashes"] == {v: p.sha256 for v, p in build_plan(spec).prompts.items()}
    assert {r["prompt_hash"] for r in rows} == set(manifest["prompt_hashes"].values())
    assert "tokenizer" not in manifest and "fugashi" in manifest["packages"]  # the report records it
    assert manifest["spec"]["prompts"] == ["v1", "v2"] and manifest["sessions"][0]["made"] == 16


def test_a_killed_run_resumed_makes_exactly_the_missing_calls(tmp_path: Path, backends, write_spec) -> None:
    spec = load_spec(write_spec(prompts=["v1", "v2"], sources=["doctor", "nursing", "both"], concurrency=3))
    planned = {call.key for call in build_plan(spec).calls}
    backends.install(crash_after=5)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    (run_dir,) = list((tmp_path / "runs").iterdir())
    first = _keys(run_dir)
    assert 5 <= len(first) < len(planned) and len(set(first)) == len(first)  # calls in flight were kept
    assert read_manifest(run_dir)["sessions"][0]["interrupted"] is True

    backends.install()
    result = run_experiment(spec, runs_dir=tmp_path / "runs", resume=True, progress=False)
    assert result.run_dir == run_dir and result.complete
    missing = len(planned) - len(first)
    assert backends.n_calls == missing == result.n_made and result.n_done_before == len(first)
    keys = _keys(run_dir)
    assert Counter(keys).most_common(1)[0][1] == 1 and set(keys) == planned

    backends.install()
    again = run_experiment(spec, runs_dir=tmp_path / "runs", resume=run_dir, progress=False)
    assert again.n_made == 0 and backends.n_calls == 0


def test_a_rerun_with_a_warm_cache_calls_nothing_and_bills_nothing(
    tmp_path: Path, backends, priced, write_spec
) -> None:
    spec = load_spec(write_spec(models=["count:priced"], sources=["doctor", "nursing"], budget_usd=1000))
    first = run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    assert backends.n_calls == 4 and first.cost_usd > 0 and first.n_cache_hits == 0
    backends.install()
    second = run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    assert second.run_dir != first.run_dir
    assert backends.n_calls == 0 and second.n_cache_hits == 4 and second.cost_usd == 0
    assert all(r["cache_hit"] and r["cost_usd"] == 0 for r in read_results(second.run_dir))


def test_the_budget_stops_before_a_call_would_pass_it_and_resume_finishes(
    tmp_path: Path, backends, priced, write_spec
) -> None:
    spec = load_spec(
        write_spec(models=["count:priced"], sources=["doctor", "nursing", "both"], concurrency=1)
    )
    plan = build_plan(spec)
    costs = [call.cost_usd for call in plan.calls]
    budget = costs[0] + costs[1] + costs[2] / 2  # room for two calls, not three
    result = run_experiment(spec.replace(budget_usd=budget), runs_dir=tmp_path / "runs", progress=False)
    assert result.n_made == 2 == backends.n_calls and result.n_not_started == len(costs) - 2
    assert not result.complete and result.total_cost_usd <= budget
    assert read_manifest(result.run_dir)["sessions"][0]["not_started"] == len(costs) - 2

    backends.install()
    raised = spec.replace(budget_usd=sum(costs) * 2)  # the budget is not part of the design: resume works
    finished = run_experiment(raised, runs_dir=tmp_path / "runs", resume=result.run_dir, progress=False)
    assert finished.complete and backends.n_calls == len(costs) - 2
    assert finished.total_cost_usd == pytest.approx(sum(r["cost_usd"] for r in read_results(result.run_dir)))


def test_a_budget_too_small_for_one_call_says_so_before_starting(
    tmp_path: Path, backends, priced, write_spec
) -> None:
    spec = load_spec(write_spec(models=["count:priced"], budget_usd=0.001))
    with pytest.raises(BudgetError, match=r"budget_usd 0.0010 is too small for even one call.*cheapest"):
        run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    assert backends.n_calls == 0 and not (tmp_path / "runs").exists()


def test_cached_calls_are_free_for_the_budget(tmp_path: Path, backends, priced, write_spec) -> None:
    spec = load_spec(write_spec(models=["count:priced"]))
    run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    backends.install()
    result = run_experiment(spec.replace(budget_usd=0.0), runs_dir=tmp_path / "runs", progress=False)
    assert result.complete and result.n_cache_hits == 2 and backends.n_calls == 0


def test_throttling_is_retried_with_backoff(tmp_path: Path, backends, write_spec) -> None:
    backends.install(throttle=2)  # two ThrottledErrors before each success
    spec = load_spec(write_spec(sources=["doctor", "nursing"], concurrency=1))
    result = run_experiment(spec, runs_dir=tmp_path / "runs", progress=False, backoff=FAST)
    assert result.complete and backends.n_calls == 4
    assert [r["attempts"] for r in read_results(result.run_dir)] == [3, 3, 3, 3]


def test_a_failing_call_is_recorded_and_the_run_goes_on(tmp_path: Path, backends, write_spec) -> None:
    spec = load_spec(write_spec(sources=["doctor", "nursing"]))
    # backends see requests, not cases: a nursing call is one whose prompt holds a case's nursing notes
    nursing = [case.karte(Source.NURSING) for case in build_plan(spec).cases.values()]
    backends.install(fail_when=lambda request: any(notes in request.prompt for notes in nursing))
    result = run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    assert result.n_made == 4 and result.n_errors == 2 and not result.complete
    errors = [r for r in read_results(result.run_dir) if r["error"]]
    assert {r["source"] for r in errors} == {"nursing"}
    assert all(r["output"] is None for r in errors)
    assert {r["error"] for r in errors} == {"RuntimeError: simulated service failure"}

    backends.install()  # the service recovers: resume retries the failures only
    resumed = run_experiment(spec, runs_dir=tmp_path / "runs", resume=True, progress=False)
    assert resumed.complete and resumed.n_made == 2 == backends.n_calls
    assert len(read_results(result.run_dir)) == 6


def test_persistent_throttling_becomes_an_error_row(tmp_path: Path, backends, write_spec) -> None:
    backends.install(throttle=100)
    spec = load_spec(write_spec())
    result = run_experiment(spec, runs_dir=tmp_path / "runs", progress=False, backoff=FAST)
    assert result.n_errors == 2 and backends.n_calls == 0
    rows = read_results(result.run_dir)
    assert all(r["error"].startswith("ThrottledError") and r["attempts"] == FAST.attempts for r in rows)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prompts": ["v1", "v99"]}, "unknown prompt version 'v99'"),
        ({"models": ["count:m", "nosuch:model"]}, "unknown model backend 'nosuch' in 'nosuch:model'"),
        ({"models": ["count:m", "bedrock:vendor.unpriced-model-v1"]}, "no price known"),
    ],
)
def test_unknown_names_fail_before_any_call(tmp_path: Path, backends, write_spec, change, message) -> None:
    spec = load_spec(write_spec(**change))
    with pytest.raises(SpecError, match=message):
        run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    assert backends.n_calls == 0 and not (tmp_path / "runs").exists()


def test_resume_refuses_a_different_design(tmp_path: Path, backends, write_spec) -> None:
    spec = load_spec(write_spec())
    with pytest.raises(NotFoundError, match="no earlier run"):
        run_experiment(spec, runs_dir=tmp_path / "runs", resume=True, progress=False)
    first = run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    with pytest.raises(SpecError, match="different design"):
        run_experiment(spec.replace(repeats=2), runs_dir=tmp_path / "runs", resume=first.run_dir,
                       progress=False)


def test_results_rows_are_json_lines(tmp_path: Path, backends, write_spec) -> None:
    result = run_experiment(load_spec(write_spec()), runs_dir=tmp_path / "runs", progress=False)
    lines = (result.run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["key"] for line in lines] == _keys(result.run_dir)
    assert "現病歴" in lines[0]  # Japanese is stored as text, not \u escapes


SLOW_BACKEND = '''
import pathlib, sys, time
from workbench.summary.backends import BaseBackend, ModelResponse, register_backend

class Slow(BaseBackend):
    def __init__(self, model_id):
        self.name = "slow:" + model_id

    def generate(self, request):
        with open(sys.argv[1], "a") as counter:
            counter.write("call\\n")
        time.sleep(0.2)
        return ModelResponse("・ 現病歴\\n入院。", 100, 50, 200, "end_turn", False)

register_backend("slow", Slow)
from workbench.cli import main
sys.exit(main(sys.argv[2:]))
'''


@pytest.mark.slow
def test_a_process_killed_with_sigkill_resumes_without_repeating_calls(tmp_path: Path, write_spec) -> None:
    script, counter, runs = tmp_path / "slow.py", tmp_path / "calls.txt", tmp_path / "runs"
    script.write_text(SLOW_BACKEND, encoding="utf-8")
    spec_path = write_spec(models=["slow:m"], sources=["doctor", "nursing", "both"], repeats=2, concurrency=2)
    command = [sys.executable, str(script), str(counter), "experiment", "run", str(spec_path), "--runs-dir",
               str(runs), "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        results = list(runs.glob("*/results.jsonl"))
        if results and len(results[0].read_text(encoding="utf-8").splitlines()) >= 3:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    (run_dir,) = list(runs.iterdir())
    before = read_results(run_dir)
    assert 3 <= len(before) < 12

    counter.unlink()
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == str(run_dir)  # the run folder is the last line
    rows = read_results(run_dir)
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == 12
    new_rows = rows[len(before):]
    calls = len(counter.read_text().splitlines())
    # Every missing result was made once: by the model, or from the cache when the killed process had
    # already been paid for it but died before writing its row.
    assert calls + sum(r["cache_hit"] for r in new_rows) == len(new_rows) == 12 - len(before)


def test_resume_refuses_an_edited_prompt_version(tmp_path: Path, backends, write_spec, repo_root) -> None:
    root = tmp_path / "prompts"
    root.mkdir()
    text = (repo_root / "prompts" / "discharge_summary" / "v1.md").read_text(encoding="utf-8")
    (root / "v1.md").write_text(text, encoding="utf-8")
    spec = load_spec(write_spec())
    first = run_experiment(build_plan(spec, registry=PromptRegistry(root)), runs_dir=tmp_path / "runs",
                           progress=False)
    (root / "v1.md").write_text(text + "\n箇条書きで。\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"prompt version\(s\) \['v1'\] changed since"):
        run_experiment(build_plan(spec, registry=PromptRegistry(root)), runs_dir=tmp_path / "runs",
                       resume=True, progress=False)
    assert backends.n_calls == 2 and first.complete


def test_every_attempt_takes_a_token_from_the_shared_rate_limiter(
    tmp_path: Path, backends, write_spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[RateLimiter] = []

    class CountingLimiter(RateLimiter):
        def __init__(self, per_minute: float) -> None:
            super().__init__(per_minute, burst=100)
            self.taken = 0
            made.append(self)

        def acquire(self) -> float:
            self.taken += 1
            return super().acquire()

    monkeypatch.setattr(runner, "RateLimiter", CountingLimiter)
    backends.install(throttle=1)  # one ThrottledError before each success: two attempts per call
    spec = load_spec(write_spec(sources=["doctor", "nursing"], rate_limit=6000, concurrency=4))
    result = run_experiment(spec, runs_dir=tmp_path / "runs", progress=False, backoff=FAST)
    assert result.complete and len(made) == 1 and made[0].rate == 100
    assert made[0].taken == 8 == sum(r["attempts"] for r in read_results(result.run_dir))


def _fill(database) -> None:  # type: ignore[no-untyped-def]
    """Let SQLite's file grow no more and use up its free room: the next write fails with SQLITE_FULL."""
    import sqlite3

    connection = database._db._connection
    connection.execute("CREATE TABLE filler (x BLOB)")
    for size in (64, 1):
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            for _ in range(100_000):
                connection.execute(f"INSERT INTO filler VALUES (zeroblob({size}))")


def _free(database) -> None:  # type: ignore[no-untyped-def]
    database._db._connection.execute("PRAGMA max_page_count = 1073741823")


@pytest.mark.parametrize("full", ["history", "responses"])
def test_a_full_disk_stops_the_run_with_one_error_and_resume_finishes_it(
    tmp_path: Path, backends, write_spec, full: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.experiments import conftest
    from workbench.errors import DiskFullError

    monkeypatch.setattr(conftest, "SUMMARY", conftest.SUMMARY + "経過良好。" * 400)  # rows bigger than a page
    from workbench.summary.cache import open_cache
    from workbench.summary.history import open_history

    spec = load_spec(write_spec(prompts=["v1", "v2"], sources=["doctor", "nursing"], concurrency=2))
    planned = {call.key for call in build_plan(spec).calls}
    history, cache = open_history(tmp_path / "history.sqlite"), open_cache(tmp_path / "responses.sqlite")
    target = history if full == "history" else cache  # history.sqlite or responses.sqlite
    _fill(target)
    message = rf"{full}\.sqlite: the disk is full \(database or disk is full\)"
    with pytest.raises(DiskFullError, match=message):
        run_experiment(spec, runs_dir=tmp_path / "runs", history=history, cache=cache, progress=False)
    (run_dir,) = list((tmp_path / "runs").iterdir())
    before = read_results(run_dir)
    assert len(before) < len(planned)
    assert all(r["error"] is None for r in before)  # no call is recorded as failed: the disk is not its fault
    assert read_manifest(run_dir)["sessions"][0]["interrupted"] is True

    _free(target)  # space freed
    backends.install()
    result = run_experiment(spec, runs_dir=tmp_path / "runs", resume=True, history=history, cache=cache,
                            progress=False)
    assert result.run_dir == run_dir and result.complete
    keys = _keys(run_dir)
    assert sorted(keys) == sorted(planned) and all(r["error"] is None for r in read_results(run_dir))
    assert history.count() >= len(planned)


def test_a_full_disk_while_writing_results_then_resume(
    tmp_path: Path, backends, write_spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from workbench.errors import DiskFullError
    from workbench.records import results

    spec = load_spec(write_spec(prompts=["v1", "v2"], sources=["doctor", "nursing"], concurrency=1))
    planned = {call.key for call in build_plan(spec).calls}
    synced = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # the disk fills after three rows (delayed allocation: fsync says so)
        if len(synced) >= 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(results.os, "fsync", fsync)
    with pytest.raises(DiskFullError, match=r"results\.jsonl: the disk is full"):
        run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    (run_dir,) = list((tmp_path / "runs").iterdir())
    first = _keys(run_dir)
    assert len(first) == 3  # the fourth row did not reach the disk and is not kept half-way

    monkeypatch.setattr(results.os, "fsync", real_fsync)
    result = run_experiment(spec, runs_dir=tmp_path / "runs", resume=True, progress=False)
    assert result.complete and result.n_done_before == 3
    keys = _keys(run_dir)
    assert len(keys) == len(set(keys)) == len(planned)


def test_a_second_resume_of_a_running_run_refuses(tmp_path: Path, backends, write_spec) -> None:
    from workbench.errors import WorkbenchError
    from workbench.records.layout import lock_run

    spec = load_spec(write_spec(prompts=["v1", "v2"]))
    backends.install(crash_after=1)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    (run_dir,) = list((tmp_path / "runs").iterdir())
    rows, sessions = _keys(run_dir), read_manifest(run_dir)["sessions"]
    holder = subprocess.Popen(  # the first --resume, still running
        [sys.executable, "-c", "import time\nfrom workbench.records.layout import lock_run\n"
         f"with lock_run({str(run_dir)!r}):\n    print('locked', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        backends.install()
        with pytest.raises(WorkbenchError, match=f"run {run_dir.name} is being run by another process"):
            run_experiment(spec, runs_dir=tmp_path / "runs", resume=True, progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert backends.n_calls == 0 and _keys(run_dir) == rows and read_manifest(run_dir)["sessions"] == sessions
    with lock_run(run_dir), pytest.raises(WorkbenchError, match="is being run by another process"):
        run_experiment(spec, runs_dir=tmp_path / "runs", resume=True, progress=False)
    assert run_experiment(spec, runs_dir=tmp_path / "runs", resume=True, progress=False).complete
