"""Runs, history and cache on S3 (moto's server): resume, cache hits, reports, two writers at once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.experiments.conftest import CASES
from workbench.cli import main
from workbench.evaluation.runs import latest_run, load_run
from workbench.experiments.plan import build_plan
from workbench.experiments.runner import run_experiment
from workbench.experiments.spec import load_spec
from workbench.records.layout import run_dirs
from workbench.records.manifest import read_manifest
from workbench.records.results import list_runs, read_results
from workbench.summary.cache import open_cache
from workbench.summary.history import open_history


def test_a_run_on_s3_is_objects_and_a_resume_makes_only_the_missing_calls(
    bucket, backends, write_spec, tmp_path: Path
) -> None:
    spec = load_spec(write_spec(prompts=["v1", "v2"], sources=["doctor", "nursing", "both"], concurrency=3))
    planned = {call.key for call in build_plan(spec).calls}
    backends.install(crash_after=5)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    (run_dir,) = run_dirs(tmp_path / "runs")
    assert not (run_dir / "results.jsonl").exists()  # the results are in S3, one object each
    first = read_results(run_dir)
    assert 5 <= len(first) < len(planned)
    assert len(bucket.keys(f"runs/{run_dir.name}/results/")) == len(first)
    assert read_manifest(run_dir)["spec_hash"] == spec.design_hash()

    shutil.rmtree(tmp_path / "runs")  # another machine: nothing local, S3 is the record
    backends.install()
    result = run_experiment(spec, runs_dir=tmp_path / "runs", resume=True, progress=False)
    assert result.run_dir == run_dir and result.complete
    assert backends.n_calls == len(planned) - len(first) == result.n_made
    keys = [row["key"] for row in read_results(run_dir)]
    assert Counter(keys).most_common(1)[0][1] == 1 and set(keys) == planned

    backends.install()
    again = run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)  # a new run: the cache answers
    assert again.run_dir != run_dir and backends.n_calls == 0 and again.n_cache_hits == len(planned)
    assert all(row["cache_hit"] and row["cost_usd"] == 0 for row in read_results(again.run_dir))
    assert len(bucket.keys("cache/")) == len(planned)

    runs = list_runs(tmp_path / "runs")
    assert runs["run_id"].tolist() == [run_dir.name, again.run_dir.name] and runs["done"].tolist() == [12, 12]
    assert latest_run(tmp_path / "runs") == again.run_dir
    manifest, frame = load_run(run_dir)
    assert manifest["run_id"] == run_dir.name and len(frame) == len(planned) and frame["ok"].all()
    history = open_history()
    recorded = set(history.search()["id"])
    rows = read_results(run_dir) + read_results(again.run_dir)
    assert len(recorded) == len(rows) and {row["generation_id"] for row in rows} == recorded


def test_experiment_report_reads_an_s3_run_and_writes_into_its_local_folder(
    bucket, backends, write_spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = load_spec(write_spec())
    result = run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    shutil.rmtree(tmp_path / "runs")
    assert main(["experiment", "report", str(result.run_dir), "--no-progress"]) == 0
    report = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert report.is_file() and report.parent == result.run_dir / "report"
    assert main(["experiment", "report", str(tmp_path / "runs" / "no-such-run")]) == 2
    assert f"s3://{bucket.name}/team/runs/no-such-run/manifest.json does not exist" in capsys.readouterr().err


TEAM_MEMBER = '''
import sys, threading, time, uuid

from workbench.summary.backends import BaseBackend, ModelResponse, register_backend
from workbench.summary.history import Generation, History, open_history

SUMMARY = "\\n".join(["・ 現病歴", "肺炎。", "・ 併存症", "なし。",
                     "・ 重大な身体所見およびその他の所見", "発熱。", "・ 入院中の治療経過", "改善。"])


class Model(BaseBackend):
    def __init__(self, model_id):
        self.name = "count:" + model_id

    def generate(self, request):
        time.sleep(0.01)
        return ModelResponse(SUMMARY, 100, 50, 10, "end_turn", False)


def notes(user, patient_id, n):  # meanwhile, the assistant records generations by hand
    history = open_history()
    for day in range(n):
        history.record(Generation(
            id=str(uuid.uuid4()), timestamp=f"2024-03-{day + 1:02d}T09:00:00+09:00", user=user,
            model="count:m", prompt_version="v1", prompt_hash="h", source="doctor", patient_id=patient_id,
            case_id="manual", repeat=0, params={}, output=SUMMARY, sections={},
        ))


register_backend("count", Model)
user, patient_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
thread = threading.Thread(target=notes, args=(user, patient_id, n))
thread.start()
from workbench.cli import main
code = main(sys.argv[4:])
thread.join()
sys.exit(code)
'''


@pytest.mark.slow
def test_two_processes_writing_runs_and_history_at_once_lose_nothing(
    bucket, backends, write_spec, tmp_path: Path
) -> None:
    cases = sorted(CASES.iterdir())[:6]
    spec_path = write_spec(cases=[str(p) for p in cases], prompts=["v1", "v2"], sources=["doctor", "both"],
                           repeats=2, concurrency=4)
    planned = {call.key for call in build_plan(load_spec(spec_path)).calls}
    assert len(planned) == 48
    script, patient, notes = tmp_path / "member.py", "ab" * 32, 10
    script.write_text(TEAM_MEMBER, encoding="utf-8")
    members = [
        subprocess.Popen(
            [sys.executable, str(script), user, patient, str(notes), "experiment", "run", str(spec_path),
             "--runs-dir", str(tmp_path / f"runs-{user}"), "--no-progress"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **bucket.env},
        )
        for user in ("alice", "bob")
    ]
    outputs = [member.communicate(timeout=300) for member in members]
    for member, (_, err) in zip(members, outputs, strict=True):
        assert member.returncode == 0, err

    run_ids = {Path(out.strip().splitlines()[-1]).name for out, _ in outputs}
    runs = run_dirs(tmp_path / "runs")
    assert len(run_ids) == 2 and {run.name for run in runs} == run_ids  # two runs, distinct ids
    all_rows = []
    for run in runs:
        rows = read_results(run)
        assert len(rows) == 48 and {row["key"] for row in rows} == planned
        assert all(row["error"] is None and row["run_id"] == run.name for row in rows)
        all_rows += rows
    assert len(bucket.keys("runs/")) == 2 * 48 + 2 * 2  # results + a manifest and a claim per run

    history = open_history()
    assert history.count() == 2 * 48 + 2 * notes  # every generation, counted exactly
    assert set(history.search()["id"]) >= {row["generation_id"] for row in all_rows}
    by_hand = history.search(patient_id=patient.upper())
    assert len(by_hand) == 2 * notes and Counter(by_hand["user"]) == {"alice": notes, "bob": notes}
    partitions = {key.rsplit("/", 2)[-2] for key in bucket.keys(f"history/patient={patient.upper()}/")}
    assert len(partitions) == notes  # one date partition per day, read across by search
    case_patient = all_rows[0]["patient_id"]
    expected = sum(row["patient_id"] == case_patient for row in all_rows)
    assert history.count(patient_id=case_patient) == expected == len(history.search(patient_id=case_patient))
    assert len(open_cache()) == 48  # one object per key, however many writers
    paid = sum(not row["cache_hit"] for row in all_rows)
    assert 48 <= paid <= 96  # each answer paid at least once; at most once per writer


def test_a_shared_folder_holds_the_same_layout(
    backends, write_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "team"
    monkeypatch.setenv("WORKBENCH_STORAGE_URI", shared.as_uri())
    spec = load_spec(write_spec(sources=["doctor", "nursing"]))
    first = run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    backends.install()
    second = run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    assert backends.n_calls == 0 and second.n_cache_hits == 4
    for result in (first, second):
        assert not (result.run_dir / "results.jsonl").exists()
        assert len(list((shared / "runs" / result.run_dir.name / "results").iterdir())) == 4
    assert len(list((shared / "cache").rglob("*.json"))) == 4
    assert open_history().count() == 8 == len(list((shared / "history").rglob("*.json")))
