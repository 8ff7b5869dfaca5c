"""Bedrock batch inference: S3 through moto, the bedrock control plane and runtime through botocore's Stubber.

The fake service (:class:`Service`) is a real ``boto3.client("bedrock")`` wrapped in a Stubber (which checks
every request and canned answer against botocore's service model and answers before anything is sent, so
moto never sees those calls); on its first ``GetModelInvocationJob`` it does what Bedrock does: reads the
records the run uploaded to (moto's) S3 and writes ``records.jsonl.out`` beside the output URI, in shuffled
order, with the chosen records failed or left out.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from workbench import config
from workbench.errors import BackendError, BudgetError, ConfigError, SpecError
from workbench.experiments import batch_jobs
from workbench.experiments.batch_planning import is_batchable
from workbench.experiments.batch_settings import BatchSettings
from workbench.experiments.plan import build_plan
from workbench.experiments.runner import run_experiment
from workbench.experiments.spec import load_spec
from workbench.records.manifest import read_manifest
from workbench.records.results import read_results
from workbench.summary.backends import ModelRequest, base, estimate_cost
from workbench.summary.backends.bedrock import BedrockBackend
from workbench.summary.backends.bedrock_native import anthropic_body, anthropic_response
from workbench.summary.cache import open_cache
from workbench.summary.history import open_history

REGION = "ap-northeast-1"
BUCKET = "wb-batch-test"
ROLE = "arn:aws:iam::123456789012:role/BedrockBatch"
MODEL_ID = "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"
MODEL = f"bedrock:{MODEL_ID}"
JOB_ARN = f"arn:aws:bedrock:{REGION}:123456789012:model-invocation-job/"
SUMMARY = (
    "・ 現病歴\n肺炎で入院。\n・ 併存症\n高血圧。\n"
    "・ 重大な身体所見およびその他の所見\n発熱。\n・ 入院中の治療経過\n改善。"
)


def _answer(key: str, index: int) -> tuple[str, int, int]:
    """The model's answer to a call: a text naming the call, and its token counts."""
    return f"{SUMMARY}\n(call {key})", 900 + index, 120 + index


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's S3 with the batch bucket, and fake AWS credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


def _configure(**values: Any) -> None:
    settings = {"role_arn": ROLE, "s3_uri": f"s3://{BUCKET}/team/batch", "min_records": 1, "poll_seconds": 0}
    settings.update(values)
    config.update_config("bedrock_batch", settings)


@pytest.fixture
def spec_path(write_spec) -> Path:
    """2 cases x 3 sources = 6 calls on a Claude model, batch on."""
    return write_spec(models=[MODEL], sources=["doctor", "nursing", "both"], concurrency=1, batch=True)


class Service:
    """Bedrock's batch service as seen through its API: a stubbed control-plane client plus the jobs' work."""

    def __init__(
        self,
        s3: Any,
        answers: dict[str, tuple[str, int, int]],
        *,
        fail: Collection[str] = (),
        skip: Collection[str] = (),
    ) -> None:
        self.client = boto3.client("bedrock", region_name=REGION)
        self.stubber = Stubber(self.client)
        self.s3, self.answers, self.fail, self.skip = s3, answers, set(fail), set(skip)
        self.created: list[dict[str, Any]] = []  # create requests, in order
        self.job_ids: list[str] = []  # the ids answered to them, in order
        self.jobs: dict[str, dict[str, Any]] = {}  # job id -> the job's input and output locations
        self.records: list[dict[str, Any]] = []  # every record read, job after job

    def expect_create(self, job_id: str) -> None:
        self.job_ids.append(job_id)
        expected = {
            "jobName": ANY,
            "roleArn": ROLE,
            "clientRequestToken": ANY,
            "modelId": MODEL_ID,
            "inputDataConfig": ANY,
            "outputDataConfig": ANY,
            "timeoutDurationInHours": 24,
        }
        self.stubber.add_response("create_model_invocation_job", {"jobArn": JOB_ARN + job_id}, expected)

    def expect_polls(self, job_id: str, *statuses: str, message: str | None = None) -> None:
        for status in statuses:
            answer: dict[str, Any] = {
                "jobArn": JOB_ARN + job_id,
                "modelId": MODEL_ID,
                "roleArn": ROLE,
                "status": status,
                "submitTime": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{BUCKET}/in/records.jsonl"}},
                "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/out/"}},
                "processedRecordCount": 0 if status in {"Submitted", "Validating"} else 3,
            }
            if message:
                answer["message"] = message
            self.stubber.add_response("get_model_invocation_job", answer, {"jobIdentifier": JOB_ARN + job_id})

    def create_model_invocation_job(self, **params: Any) -> dict[str, Any]:
        self.created.append(params)
        with self.stubber:
            answer = self.client.create_model_invocation_job(**params)
        self.jobs[answer["jobArn"].rsplit("/", 1)[-1]] = {
            "input_uri": params["inputDataConfig"]["s3InputDataConfig"]["s3Uri"],
            "output_uri": params["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"],
        }
        return answer

    def get_model_invocation_job(self, **params: Any) -> dict[str, Any]:
        job_id = params["jobIdentifier"].rsplit("/", 1)[-1]
        if not self.jobs[job_id].get("worked"):
            self._work(job_id)
        with self.stubber:
            return self.client.get_model_invocation_job(**params)

    def resume_from(self, manifest: dict[str, Any]) -> None:
        """Know the jobs a run submitted earlier (a new client, as after a restart)."""
        for job in manifest["batch_jobs"]:
            self.jobs[job["job_arn"].rsplit("/", 1)[-1]] = dict(job)

    def _work(self, job_id: str) -> None:
        """Read the uploaded records, write the answers as the service does (any order, errors in line)."""
        job = self.jobs[job_id]
        job["worked"] = True
        bucket, _, key = job["input_uri"][5:].partition("/")
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        records = [json.loads(line) for line in body.splitlines()]
        self.records += records
        out = []
        for record in records:
            line = {"recordId": record["recordId"], "modelInput": record["modelInput"]}
            if record["recordId"] in self.skip:
                continue
            if record["recordId"] in self.fail:
                line["error"] = {"errorCode": 400, "errorMessage": "Malformed input request, please reformat"}
            else:
                text, tokens_in, tokens_out = self.answers[record["recordId"]]
                line["modelOutput"] = {
                    "id": "msg_bdrk_01",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude",
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
                }
            out.append(json.dumps(line, ensure_ascii=False))
        random.Random(7).shuffle(out)
        bucket, _, prefix = job["output_uri"].rstrip("/")[5:].partition("/")
        self.s3.put_object(
            Bucket=bucket, Key=f"{prefix}/{job_id}/records.jsonl.out", Body="\n".join(out).encode("utf-8")
        )


@pytest.fixture
def install_service(monkeypatch: pytest.MonkeyPatch, s3) -> Any:
    """``install_service(service)`` makes the batch runner use it (and moto's S3)."""

    def install(service: Service) -> Service:
        monkeypatch.setattr(batch_jobs, "make_clients", lambda region=None: (service, s3))
        return service

    return install


@pytest.fixture
def converse(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``converse(answers)``: on-demand ``bedrock:`` calls through a Stubber on bedrock-runtime, in order."""
    stubbers: list[Stubber] = []

    def install(answers: list[tuple[str, int, int]]) -> Stubber:
        client = boto3.client("bedrock-runtime", region_name=REGION)
        stubber = Stubber(client)
        for text, tokens_in, tokens_out in answers:
            stubber.add_response(
                "converse",
                {
                    "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                    "stopReason": "end_turn",
                    "usage": {
                        "inputTokens": tokens_in,
                        "outputTokens": tokens_out,
                        "totalTokens": tokens_in + tokens_out,
                    },
                    "metrics": {"latencyMs": 1234},
                },
            )
        stubber.activate()
        stubbers.append(stubber)
        base.register_backend("bedrock", lambda model_id: BedrockBackend(model_id, client=client))
        return stubber

    yield install
    for stubber in stubbers:
        stubber.deactivate()


def _stores(tmp_path: Path, name: str) -> dict[str, Any]:
    return {
        "history": open_history(tmp_path / name / "history.sqlite"),
        "cache": open_cache(tmp_path / name / "cache.sqlite"),
    }


def _by_key(run_dir: Path) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in read_results(run_dir)}


SAME = (
    "output",
    "sections",
    "missing_sections",
    "input_tokens",
    "output_tokens",
    "stop_reason",
    "truncated",
    "prompt_version",
    "prompt_hash",
    "model",
    "source",
    "case_id",
    "patient_id",
    "repeat",
    "params",
)


def test_a_batch_run_equals_an_on_demand_run_and_resume_makes_only_the_rejected_record(
    tmp_path: Path, s3, spec_path, install_service, converse
) -> None:
    _configure()
    spec = load_spec(spec_path)
    calls = build_plan(spec).calls
    answers = {call.key: _answer(call.key, i) for i, call in enumerate(calls)}

    stubber = converse([answers[call.key] for call in calls])
    on_demand = run_experiment(
        spec, runs_dir=tmp_path / "a", progress=False, batch=False, **_stores(tmp_path, "a")
    )
    stubber.assert_no_pending_responses()
    assert on_demand.complete

    rejected = calls[2].key
    service = install_service(Service(s3, answers, fail={rejected}))
    service.expect_create("job0000001")
    service.expect_polls("job0000001", "Submitted", "InProgress", "Completed")
    stores = _stores(tmp_path, "b")
    result = run_experiment(spec, runs_dir=tmp_path / "b", progress=False, **stores)
    service.stubber.assert_no_pending_responses()
    assert result.n_made == 6 and result.n_errors == 1 and not result.complete

    # what was uploaded: Claude's native InvokeModel body, one record per call, keyed by the call key
    assert [r["recordId"] for r in service.records] == [call.key for call in calls]
    body = service.records[0]["modelInput"]
    assert body["anthropic_version"] == "bedrock-2023-05-31" and body["max_tokens"] > 0
    assert body["messages"][0]["role"] == "user" and body["messages"][0]["content"][0]["text"]
    created = service.created[0]
    run_id = result.run_dir.name
    assert created["inputDataConfig"]["s3InputDataConfig"]["s3Uri"].startswith(
        f"s3://{BUCKET}/team/batch/{run_id}/"
    ) and created["jobName"].startswith(f"wb-{run_id}")

    batch_rows, demand_rows = _by_key(result.run_dir), _by_key(on_demand.run_dir)
    assert set(batch_rows) == set(demand_rows)
    assert (
        "BatchRecordError" in batch_rows[rejected]["error"]
        and "Malformed input" in batch_rows[rejected]["error"]
    )
    for key, row in batch_rows.items():
        if key == rejected:
            continue
        assert row["error"] is None and {f: row[f] for f in SAME} == {f: demand_rows[key][f] for f in SAME}
        assert row["latency_ms"] is None  # the service reports no latency per record
        batch_cost = estimate_cost(MODEL, row["input_tokens"], row["output_tokens"], batch=True)
        assert row["cost_usd"] == pytest.approx(batch_cost) == pytest.approx(demand_rows[key]["cost_usd"] / 2)
    history = stores["history"].search()
    assert len(history) == 5 and set(history["cost_usd"].round(10)) == {
        round(batch_rows[k]["cost_usd"], 10) for k in batch_rows if k != rejected
    }
    assert len(stores["cache"]) == 5
    job = read_manifest(result.run_dir)["batch_jobs"][0]
    assert job["job_arn"] == JOB_ARN + "job0000001" and job["ingested"] and job["status"] == "Completed"

    # resume on demand: exactly the rejected call is made
    stubber = converse([answers[rejected]])
    resumed = run_experiment(
        spec, runs_dir=tmp_path / "b", resume=True, progress=False, batch=False, **stores
    )
    stubber.assert_no_pending_responses()
    assert resumed.n_made == 1 and resumed.complete and resumed.n_done_before == 5
    final = _by_key(result.run_dir)
    assert {f: final[rejected][f] for f in SAME} == {f: demand_rows[rejected][f] for f in SAME}

    # and a batch resume of a complete run has nothing to send
    again = run_experiment(spec, runs_dir=tmp_path / "b", resume=True, progress=False, **stores)
    assert again.n_made == 0 and len(service.created) == 1


def test_a_resume_polls_the_saved_job_instead_of_submitting_again(
    tmp_path: Path, s3, spec_path, install_service
) -> None:
    _configure()
    spec = load_spec(spec_path)
    answers = {call.key: _answer(call.key, i) for i, call in enumerate(build_plan(spec).calls)}
    service = install_service(Service(s3, answers))
    service.expect_create("job0000002")
    service.expect_polls("job0000002", "InProgress")
    polls = {"n": 0}
    original = service.get_model_invocation_job

    def poll_then_kill(**params: Any) -> dict[str, Any]:
        polls["n"] += 1
        if polls["n"] == 2:
            raise KeyboardInterrupt("simulated kill while waiting")
        return original(**params)

    service.get_model_invocation_job = poll_then_kill  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    (run_dir,) = list((tmp_path / "runs").iterdir())
    assert read_results(run_dir) == [] and read_manifest(run_dir)["batch_jobs"][0]["job_arn"].endswith(
        "job0000002"
    )

    second = install_service(Service(s3, answers))  # no create expected: a second job would fail the stub
    second.expect_polls("job0000002", "InProgress", "Completed")
    second.resume_from(read_manifest(run_dir))
    result = run_experiment(spec, runs_dir=tmp_path / "runs", resume=True, progress=False)
    second.stubber.assert_no_pending_responses()
    assert result.complete and result.n_made == 6 and second.created == []
    (job,) = read_manifest(run_dir)["batch_jobs"]
    assert job["status"] == "Completed" and job["ingested"] is True


def test_an_expired_job_keeps_what_was_answered_and_resume_makes_the_rest(
    tmp_path: Path, s3, spec_path, install_service, converse
) -> None:
    _configure()
    spec = load_spec(spec_path)
    calls = build_plan(spec).calls
    answers = {call.key: _answer(call.key, i) for i, call in enumerate(calls)}
    unanswered = {calls[1].key, calls[4].key}
    service = install_service(Service(s3, answers, skip=unanswered))
    service.expect_create("job0000003")
    service.expect_polls("job0000003", "InProgress", "Expired")
    with pytest.raises(BackendError, match=r"expired \(not finished within timeout_hours=24.*4 of 6 record"):
        run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    (run_dir,) = list((tmp_path / "runs").iterdir())
    rows = _by_key(run_dir)
    assert {k for k, r in rows.items() if r["error"]} == unanswered and len(rows) == 6
    assert all("BatchRecordMissing" in rows[k]["error"] for k in unanswered)

    stubber = converse([answers[c.key] for c in calls if c.key in unanswered])
    result = run_experiment(spec, runs_dir=tmp_path / "runs", resume=True, progress=False, batch=False)
    stubber.assert_no_pending_responses()
    assert result.n_made == 2 and result.complete


def test_a_failed_job_says_why_and_loses_nothing(tmp_path: Path, s3, spec_path, install_service) -> None:
    _configure()
    spec = load_spec(spec_path)
    calls = build_plan(spec).calls
    service = install_service(
        Service(s3, {c.key: _answer(c.key, i) for i, c in enumerate(calls)}, skip={c.key for c in calls})
    )
    service.expect_create("job0000004")
    service.expect_polls(
        "job0000004", "Validating", "Failed", message="Access denied to the input data in S3: check the role"
    )
    with pytest.raises(
        BackendError, match=r"failed \(Access denied to the input data.*0 of 6 record.*--resume"
    ):
        run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    (run_dir,) = list((tmp_path / "runs").iterdir())
    assert len(read_results(run_dir)) == 6 and all(r["error"] for r in read_results(run_dir))


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("role_arn", r"needs an IAM service role.*WORKBENCH_BEDROCK_BATCH_ROLE_ARN"),
        ("s3_uri", r"needs an S3 bucket.*WORKBENCH_BEDROCK_BATCH_S3_URI"),
    ],
)
def test_no_role_or_no_bucket_is_one_message_before_anything_is_uploaded(
    tmp_path: Path, s3, spec_path, install_service, missing: str, message: str
) -> None:
    _configure(**{missing: None})
    service = install_service(Service(s3, {}))
    with pytest.raises(ConfigError, match=message):
        run_experiment(load_spec(spec_path), runs_dir=tmp_path / "runs", progress=False)
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0 and service.created == []
    assert not (tmp_path / "runs").exists()


def test_a_bucket_that_does_not_exist_is_named(tmp_path: Path, s3, spec_path, install_service) -> None:
    _configure(s3_uri="s3://no-such-bucket-here/x")
    service = install_service(Service(s3, {}))
    with pytest.raises(ConfigError, match=r"bucket 'no-such-bucket-here' does not exist"):
        run_experiment(load_spec(spec_path), runs_dir=tmp_path / "runs", progress=False)
    assert service.created == []


def test_too_few_records_for_a_job_offers_the_on_demand_command(tmp_path: Path, s3, spec_path) -> None:
    _configure(min_records=100)
    with pytest.raises(
        BackendError,
        match=r"minimum is 100 records.*nothing was sent.*"
        rf"workbench experiment run {spec_path} --no-batch$",
    ):
        run_experiment(load_spec(spec_path), runs_dir=tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs").exists() and s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_other_models_in_a_batch_spec_run_on_demand(
    tmp_path: Path, s3, backends, write_spec, install_service
) -> None:
    _configure()
    spec = load_spec(write_spec(models=[MODEL, "count:m"], sources=["doctor"], batch=True))
    calls = build_plan(spec).calls
    service = install_service(Service(s3, {c.key: _answer(c.key, i) for i, c in enumerate(calls)}))
    service.expect_create("job0000005")
    service.expect_polls("job0000005", "Completed")
    result = run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    assert result.complete and backends.n_calls == 2 and len(service.records) == 2
    assert {r["recordId"] for r in service.records} == {c.key for c in calls if c.model == MODEL}


def test_the_dry_run_shows_the_batch_price(tmp_path: Path, spec_path, capsys) -> None:
    from workbench.cli import main

    assert main(["experiment", "run", str(spec_path), "--dry-run", "--runs-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    plan = build_plan(load_spec(spec_path))
    on_demand = sum(c.cost_usd for c in plan.calls)
    assert (
        f"batch: 6 Anthropic Claude bedrock call(s) at the Bedrock batch price ~${on_demand / 2:.4f} "
        f"instead of ~${on_demand:.4f} on demand" in out
    )
    assert not (tmp_path / "r").exists()


def test_spec_batch_key_and_settings_are_checked(tmp_path: Path, write_spec, backends) -> None:
    assert load_spec(write_spec(batch=True)).batch == {}
    assert load_spec(write_spec(batch=False)).batch is None
    spec = load_spec(write_spec(batch={"timeout_hours": 48}))
    assert spec.batch == {"timeout_hours": 48}
    assert spec.design_hash() == load_spec(write_spec()).design_hash()  # batch or not: the same calls
    with pytest.raises(SpecError, match=r"unknown batch setting\(s\) \['bucket'\]"):
        load_spec(write_spec(batch={"bucket": "x"}))
    with pytest.raises(SpecError, match="timeout_hours must be between 24 and 168"):
        load_spec(write_spec(batch={"timeout_hours": 2}))
    with pytest.raises(SpecError, match="batch must be true, false or a mapping"):
        load_spec(write_spec(batch="yes"))
    with pytest.raises(ConfigError, match="not an IAM role ARN"):
        BatchSettings(role_arn="role/x", s3_uri="s3://b/p").check()
    assert BatchSettings(role_arn=ROLE, s3_uri="s3://my-bucket").check() == ("my-bucket", "")
    assert is_batchable(MODEL) and not is_batchable("bedrock:amazon.nova-pro-v1:0")
    assert not is_batchable("count:m")


def test_native_body_and_answer_mapping() -> None:
    request = ModelRequest(
        system="sys", prompt="要約して", max_tokens=100, top_p=0.9, stop_sequences=("END",)
    )
    assert anthropic_body(request) == {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "system": "sys",
        "top_p": 0.9,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "要約して"}]}],
        "stop_sequences": ["END"],
    }
    assert "system" not in anthropic_body(
        ModelRequest(system=None, prompt="p", max_tokens=5, temperature=0.2)
    )
    response = anthropic_response(
        {
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            "stop_reason": "max_tokens",
            "usage": {"input_tokens": 3, "output_tokens": 4},
        }
    )
    assert (response.text, response.input_tokens, response.output_tokens, response.truncated) == (
        "ab",
        3,
        4,
        True,
    )
    assert response.latency_ms is None
    with pytest.raises(BackendError, match="not an Anthropic Claude answer"):
        anthropic_response({"error": "x"})


def test_a_refused_submission_says_why_and_resume_submits_the_same_job_again(
    tmp_path: Path, s3, spec_path, install_service
) -> None:
    _configure()
    spec = load_spec(spec_path)
    answers = {call.key: _answer(call.key, i) for i, call in enumerate(build_plan(spec).calls)}
    service = install_service(Service(s3, answers))
    service.stubber.add_client_error(
        "create_model_invocation_job", "AccessDeniedException", "not authorized to perform iam:PassRole"
    )
    with pytest.raises(
        BackendError, match=r"create_model_invocation_job refused: AccessDenied.*iam:PassRole"
    ):
        run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    (run_dir,) = list((tmp_path / "runs").iterdir())
    saved = read_manifest(run_dir)["batch_jobs"]
    assert len(saved) == 1 and saved[0]["job_arn"] is None and read_results(run_dir) == []

    again = install_service(Service(s3, answers))
    again.expect_create("job0000006")
    again.expect_polls("job0000006", "Completed")
    result = run_experiment(spec, runs_dir=tmp_path / "runs", resume=True, progress=False)
    assert result.complete and result.n_made == 6
    (first,), (second,) = service.created, again.created
    assert (second["jobName"], second["clientRequestToken"]) == (
        first["jobName"],
        first["clientRequestToken"],
    )
    (job,) = read_manifest(run_dir)["batch_jobs"]
    assert job["job_arn"] == JOB_ARN + "job0000006" and job["ingested"] is True


def test_a_batch_that_would_pass_the_budget_is_refused_before_anything_is_sent(
    tmp_path: Path, s3, write_spec, install_service
) -> None:
    _configure()
    spec = load_spec(write_spec(models=[MODEL], sources=["doctor"], batch=True, budget_usd=0.0001))
    service = install_service(Service(s3, {}))
    with pytest.raises(BudgetError, match=r"batch job\(s\) are estimated at .*budget_usd 0.0001"):
        run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    assert service.created == [] and not (tmp_path / "runs").exists()


def test_the_cli_refuses_a_small_batch_in_one_line_then_runs_one_with_the_flag(
    tmp_path: Path, s3, write_spec, install_service, capsys
) -> None:
    from workbench.cli import main

    path = write_spec(models=[MODEL], sources=["doctor"])  # no batch key: the flag asks for it
    _configure(min_records=100)
    code = main(["experiment", "run", str(path), "--batch", "--runs-dir", str(tmp_path / "r2")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"{path} --no-batch" in err
    assert err.startswith("workbench: error: too few calls for a Bedrock batch job")

    _configure(min_records=1)
    calls = build_plan(load_spec(path)).calls
    service = install_service(Service(s3, {c.key: _answer(c.key, i) for i, c in enumerate(calls)}))
    service.expect_create("job0000007")
    service.expect_polls("job0000007", "InProgress", "Completed")
    runs = tmp_path / "runs"
    assert main(["experiment", "run", str(path), "--batch", "--runs-dir", str(runs), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 call(s) made: 0 from the cache, 0 failed" in out and len(service.created) == 1


def test_a_model_with_more_calls_than_a_job_takes_gets_balanced_jobs(
    tmp_path: Path, s3, spec_path, install_service
) -> None:
    _configure(min_records=2, max_records=4)
    spec = load_spec(spec_path)
    calls = build_plan(spec).calls
    service = install_service(Service(s3, {c.key: _answer(c.key, i) for i, c in enumerate(calls)}))
    for job_id in ("jobsplit0001", "jobsplit0002"):
        service.expect_create(job_id)
    service.expect_polls("jobsplit0001", "InProgress")
    service.expect_polls("jobsplit0002", "InProgress")
    service.expect_polls("jobsplit0001", "Completed")
    service.expect_polls("jobsplit0002", "Completed")
    result = run_experiment(spec, runs_dir=tmp_path / "runs", progress=False)
    service.stubber.assert_no_pending_responses()
    assert result.complete and result.n_made == 6
    jobs = read_manifest(result.run_dir)["batch_jobs"]
    assert [len(job["keys"]) for job in jobs] == [3, 3] and len({job["input_uri"] for job in jobs}) == 2
    assert sorted(r["recordId"] for r in service.records) == sorted(c.key for c in calls)
    with pytest.raises(SpecError, match=r"max_records \(3\) must be at least twice min_records \(2\)"):
        BatchSettings.load({"max_records": 3, "min_records": 2})
