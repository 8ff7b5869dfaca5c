"""Bedrock batch inference for experiment runs (``batch: true`` in a spec, or ``--batch``).

Bedrock's own batch engine (``CreateModelInvocationJob``) answers large runs at about half the on-demand
price, without the per-minute quotas. The calls of a run that are missing, not in the response cache, and on
an Anthropic Claude ``bedrock:`` model are sent as one job per model (several above ``max_records``):

1. every record ``{"recordId": <call key>, "modelInput": <Claude's native InvokeModel body>}`` is written as
   JSONL to ``<s3_uri>/<run_id>/<job name>/input/records.jsonl``;
2. ``CreateModelInvocationJob`` (role ARN, input and output S3 locations, timeout) is called with a client
   request token saved first, and the job's ARN is saved in the run's ``manifest.json`` (``batch_jobs``),
   so ``--resume`` polls the same job instead of submitting it again;
3. ``GetModelInvocationJob`` is polled with a growing interval and a progress bar until the job ends;
4. ``<output uri>/<job id>/records.jsonl.out`` is read back and joined on ``recordId`` (the service does
   not keep the order). Each answer goes through :func:`workbench.summary.generate.finish` (response cache,
   history) and becomes a ``results.jsonl`` row like an on-demand call's; the cost is the batch price, and
   ``latency_ms`` is ``None`` (the service reports none). A record the service rejected becomes an error
   row, so ``--resume`` makes only it again.

The other calls of the run (other backends, non-Anthropic Bedrock models, cache hits) are made on demand as
usual, before the batch jobs are waited for. Settings (environment first, then ``[bedrock_batch]`` in
``config.toml``; a spec's ``batch:`` table overrides them): ``role_arn``
(``WORKBENCH_BEDROCK_BATCH_ROLE_ARN``), ``s3_uri`` (``WORKBENCH_BEDROCK_BATCH_S3_URI``), ``timeout_hours``
(default 24), ``min_records`` (the service's minimum per job, default 100), ``max_records`` (its maximum per
job, default 50000: more calls are split into balanced jobs), ``poll_seconds`` (first wait,
default 60; it grows by half each round up to ``max_poll_seconds``, default 600).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from workbench import config
from workbench.errors import BackendError, ConfigError, SpecError
from workbench.experiments.plan import Call, Plan
from workbench.records.manifest import write_manifest
from workbench.summary.backends import estimate_cost, split_model_name
from workbench.summary.backends.bedrock_native import anthropic_body, anthropic_response
from workbench.summary.cache import ResponseCache
from workbench.summary.generate import PreparedCall, finish, prepare
from workbench.summary.history import Generation, History

logger = logging.getLogger(__name__)

SECTION = "bedrock_batch"
INPUT_FILE = "records.jsonl"
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
_S3_URI_RE = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$")

Record = Callable[[Call, Generation | None, str | None], None]
"""How the runner takes a result: ``record(call, generation, error)`` writes and counts its row."""


class JobStatus(enum.StrEnum):
    """Statuses of a Bedrock model invocation job (botocore's ``ModelInvocationJobStatus``)."""

    SUBMITTED = "Submitted"
    VALIDATING = "Validating"
    SCHEDULED = "Scheduled"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    PARTIALLY_COMPLETED = "PartiallyCompleted"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    EXPIRED = "Expired"

    @property
    def finished(self) -> bool:
        """The job will not change any more."""
        return self in _FINISHED

    @property
    def succeeded(self) -> bool:
        """The job ran its records (some may still have failed one by one)."""
        return self in (JobStatus.COMPLETED, JobStatus.PARTIALLY_COMPLETED)


_FINISHED = frozenset(
    {
        JobStatus.COMPLETED,
        JobStatus.PARTIALLY_COMPLETED,
        JobStatus.FAILED,
        JobStatus.STOPPED,
        JobStatus.EXPIRED,
    }
)


@dataclass(frozen=True)
class BatchSettings:
    """Where and how batch jobs run.

    Attributes
    ----------
    role_arn : str or None
        IAM service role Bedrock assumes to read the input and write the output in S3.
    s3_uri : str or None
        ``s3://bucket/prefix`` under which each run writes ``<run_id>/<job name>/input|output``.
    timeout_hours : int
        The job's ``timeoutDurationInHours`` (24 to 168).
    min_records : int
        Fewest records the service accepts in one job (its quota; 100 for Claude models).
    max_records : int
        Most records per job (its quota); a model with more calls gets several jobs of balanced size.
    poll_seconds, max_poll_seconds : float
        First and longest wait between two ``GetModelInvocationJob`` calls.
    """

    role_arn: str | None = None
    s3_uri: str | None = None
    timeout_hours: int = 24
    min_records: int = 100
    max_records: int = 50_000
    poll_seconds: float = 60.0
    max_poll_seconds: float = 600.0

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, *, origin: str = "spec") -> BatchSettings:
        """Read the settings: a spec's ``batch:`` table, else the environment, else ``config.toml``.

        Raises
        ------
        SpecError
            For an unknown key or a value of the wrong kind.
        """
        overrides = dict(overrides or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise SpecError(f"{origin}: unknown batch setting(s) {unknown}; known: {sorted(known)}")
        envs = {"role_arn": "WORKBENCH_BEDROCK_BATCH_ROLE_ARN", "s3_uri": "WORKBENCH_BEDROCK_BATCH_S3_URI"}
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = overrides.get(f.name)
            if value is None:
                value = config.setting(SECTION, f.name, env=envs.get(f.name), default=f.default)
            values[f.name] = value
        try:
            settings = cls(
                role_arn=str(values["role_arn"] or "").strip() or None,
                s3_uri=str(values["s3_uri"] or "").strip().rstrip("/") or None,
                timeout_hours=int(values["timeout_hours"]),
                min_records=int(values["min_records"]),
                max_records=int(values["max_records"]),
                poll_seconds=float(values["poll_seconds"]),
                max_poll_seconds=float(values["max_poll_seconds"]),
            )
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{origin}: a batch setting has a wrong value ({exc})") from None
        if not 24 <= settings.timeout_hours <= 168:
            raise SpecError(
                f"{origin}: batch timeout_hours must be between 24 and 168 (the service's range), "
                f"got {settings.timeout_hours}"
            )
        if settings.min_records < 1 or settings.poll_seconds < 0 or settings.max_poll_seconds < 0:
            raise SpecError(f"{origin}: batch min_records must be >= 1 and the poll intervals >= 0")
        if settings.max_records < 2 * settings.min_records:
            raise SpecError(
                f"{origin}: batch max_records ({settings.max_records}) must be at least twice "
                f"min_records ({settings.min_records}), so that split jobs stay above the minimum"
            )
        return settings

    def check(self) -> tuple[str, str]:
        """The role ARN and ``(bucket, prefix)`` checked, before anything is uploaded.

        Returns
        -------
        tuple of str
            The bucket and the key prefix ('' for the bucket's root).

        Raises
        ------
        ConfigError
            No role ARN, no bucket, or one that is malformed.
        """
        where = config.config_path()
        if not self.role_arn:
            raise ConfigError(
                "Bedrock batch needs an IAM service role that Bedrock assumes to read and write the bucket: "
                f"set WORKBENCH_BEDROCK_BATCH_ROLE_ARN, or [{SECTION}] role_arn = "
                f'"arn:aws:iam::<account>:role/<name>" in {where}'
            )
        if not _ROLE_ARN_RE.match(self.role_arn):
            raise ConfigError(
                f"Bedrock batch role_arn {self.role_arn!r} is not an IAM role ARN "
                "(arn:aws:iam::<12-digit account>:role/<name>)"
            )
        if not self.s3_uri:
            raise ConfigError(
                "Bedrock batch needs an S3 bucket for the records and the answers: set "
                f'WORKBENCH_BEDROCK_BATCH_S3_URI, or [{SECTION}] s3_uri = "s3://<bucket>/<prefix>" in {where}'
            )
        match = _S3_URI_RE.match(self.s3_uri)
        if not match:
            raise ConfigError(
                f"Bedrock batch s3_uri {self.s3_uri!r} is not an S3 location (s3://<bucket>/<prefix>)"
            )
        return match.group(1), (match.group(2) or "").strip("/")


def is_batchable(model: str) -> bool:
    """Return whether ``model`` can go to a batch job: an Anthropic Claude model on Bedrock."""
    backend, model_id = split_model_name(model)
    return backend == "bedrock" and "anthropic." in model_id


def batch_estimate(plan: Plan, todo: Collection[Call], cached: Collection[str]) -> tuple[int, float, float]:
    """What the batchable calls among ``todo`` would cost: on demand and at the batch price.

    Parameters
    ----------
    plan
    todo
        Calls still to make.
    cached
        Keys of calls the response cache answers (free, never batched).

    Returns
    -------
    tuple
        ``(n_calls, on_demand_usd, batch_usd)`` of the calls that would go to batch jobs.
    """
    calls = [c for c in todo if c.key not in cached and is_batchable(c.model)]
    batch = sum(estimate_cost(c.model, c.input_tokens, c.output_tokens, batch=True) for c in calls)
    return len(calls), sum(c.cost_usd for c in calls), batch


def make_clients(region: str | None = None) -> tuple[Any, Any]:
    """A ``bedrock`` (control plane) and an ``s3`` client in ``region`` (default: ``[bedrock] region``)."""
    import boto3
    from botocore.exceptions import NoRegionError

    region = (
        region
        or config.setting("bedrock", "region", env="WORKBENCH_BEDROCK_REGION")
        or os.environ.get("AWS_REGION")
    )
    session = boto3.session.Session()
    try:
        return session.client("bedrock", region_name=region), session.client("s3", region_name=region)
    except NoRegionError:
        raise ConfigError(
            "no AWS region for Bedrock batch: set AWS_REGION (e.g. ap-northeast-1), "
            "WORKBENCH_BEDROCK_REGION, or [bedrock] region in config.toml"
        ) from None


@dataclass
class BatchPlan:
    """What goes to batch jobs in one invocation of the runner, decided before anything is written.

    Attributes
    ----------
    plan : Plan
    settings : BatchSettings
    new : dict of str to list of Call
        Calls to send in a new job, by model.
    pending : list of (dict, list of Call)
        Jobs recorded in the run's manifest and not yet ingested, with their calls still missing.
    on_demand : list of Call
        The other calls: made on demand by the runner.
    """

    plan: Plan
    settings: BatchSettings
    new: dict[str, list[Call]] = field(default_factory=dict)
    pending: list[tuple[dict[str, Any], list[Call]]] = field(default_factory=list)
    on_demand: list[Call] = field(default_factory=list)

    @property
    def n_calls(self) -> int:
        """Calls answered by batch jobs (new and pending)."""
        return sum(map(len, self.new.values())) + sum(len(calls) for _, calls in self.pending)

    def cost(self) -> float:
        """Estimated cost of the new jobs at the batch price (pending ones are already paid for)."""
        return sum(
            estimate_cost(c.model, c.input_tokens, c.output_tokens, batch=True)
            for calls in self.new.values()
            for c in calls
        )


def plan_batch(
    plan: Plan,
    todo: list[Call],
    cached: Collection[str],
    manifest: Mapping[str, Any],
    *,
    resume_dir: Path | None = None,
) -> BatchPlan:
    """Split the calls left to make into batch jobs and on-demand calls, and check that the jobs can run.

    Parameters
    ----------
    plan
    todo
        Calls missing from the run.
    cached
        Keys of calls the response cache answers (made on demand: they cost nothing).
    manifest
        The manifest of the run being resumed (``{}`` for a new run): its unfinished ``batch_jobs`` are
        polled, not submitted again.
    resume_dir
        The run being resumed, named in messages.

    Returns
    -------
    BatchPlan

    Raises
    ------
    BackendError
        If a model has fewer calls than the service's minimum per job; the message gives the on-demand
        command.
    ConfigError
        No role ARN or bucket (only when a new job is needed).
    SpecError
        Bad settings in the spec's ``batch:`` table.
    """
    origin = str(plan.spec.path or plan.spec.name)
    settings = BatchSettings.load(plan.spec.batch, origin=origin)
    result = BatchPlan(plan, settings)
    left = {call.key: call for call in todo}
    for job in manifest.get("batch_jobs", []):
        if job.get("ingested"):
            continue
        calls = [left.pop(key) for key in job["keys"] if key in left]
        if calls:
            result.pending.append((job, calls))
    for call in left.values():
        if call.key in cached or not is_batchable(call.model):
            result.on_demand.append(call)
        else:
            result.new.setdefault(call.model, []).append(call)
    skipped = sorted({c.model for c in result.on_demand if not is_batchable(c.model)})
    if skipped:
        logger.warning(
            "not batchable, made on demand: %s (batch takes Anthropic Claude on bedrock: only)",
            ", ".join(skipped),
        )
    small = {model: len(calls) for model, calls in result.new.items() if len(calls) < settings.min_records}
    if small:
        counts = ", ".join(f"{model}: {n}" for model, n in small.items())
        command = f"workbench experiment run {plan.spec.path or '<spec>'} --no-batch"
        if resume_dir is not None:
            command += f" --resume {resume_dir}"
        raise BackendError(
            f"too few calls for a Bedrock batch job ({counts}; the minimum is {settings.min_records} records "
            f"per job, [{SECTION}] min_records); nothing was sent. Run them on demand: {command}"
        )
    if result.new or any(not job.get("job_arn") for job, _ in result.pending):
        settings.check()
    return result


class BatchRunner:
    """Submit, wait for and ingest the batch jobs of one :class:`BatchPlan`.

    Parameters
    ----------
    batch : BatchPlan
    run_dir : Path
        The run folder (its name is the run id).
    manifest : dict
        The run's manifest; ``batch_jobs`` entries are added and updated, and written at once.
    record : callable
        ``record(call, generation, error)``: the runner's writer of ``results.jsonl`` rows.
    history, cache
        Where answers are recorded and cached (as on demand).
    bedrock, s3 : botocore clients, optional
        Default: :func:`make_clients`.
    progress : bool
        Show a progress bar while waiting.
    sleep : callable
        ``time.sleep``.
    """

    def __init__(
        self,
        batch: BatchPlan,
        run_dir: Path,
        manifest: dict[str, Any],
        record: Record,
        *,
        history: History,
        cache: ResponseCache,
        bedrock: Any = None,
        s3: Any = None,
        progress: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.batch = batch
        self.plan = batch.plan
        self.settings = batch.settings
        self.run_dir = run_dir
        self.manifest = manifest
        self.record = record
        self.history = history
        self.cache = cache
        if bedrock is None or s3 is None:
            made_bedrock, made_s3 = make_clients()
            bedrock, s3 = bedrock or made_bedrock, s3 or made_s3
        self.bedrock = bedrock
        self.s3 = s3
        self.progress = progress
        self.sleep = sleep

    def run(self) -> None:
        """Submit the new jobs, wait for every job, ingest the answers.

        Raises
        ------
        BackendError
            A job failed, expired or was stopped (its answered records are ingested first, the rest are error
            rows that ``--resume`` makes again), or the service refused a request.
        ConfigError
            The bucket does not exist or cannot be reached.
        """
        jobs = list(self.batch.pending)
        for model, calls in self.batch.new.items():
            n_jobs = -(-len(calls) // self.settings.max_records)
            for part in range(n_jobs):  # balanced: every part holds at least min_records
                chunk = calls[part * len(calls) // n_jobs : (part + 1) * len(calls) // n_jobs]
                jobs.append((self._new_job(model, chunk), chunk))
        for job, calls in jobs:
            if not job.get("job_arn"):
                self._submit(job, calls)
        self._wait([job for job, _ in jobs])
        problems = [problem for job, calls in jobs if (problem := self._ingest(job, calls))]
        if problems:
            raise BackendError("; ".join(problems))

    # -- submitting ------------------------------------------------------------------------------------

    def _new_job(self, model: str, calls: list[Call]) -> dict[str, Any]:
        """Record the job in the manifest before anything is sent (a resume finds and resubmits it)."""
        bucket, prefix = self.settings.check()
        jobs = self.manifest.setdefault("batch_jobs", [])
        name = f"wb-{self.run_dir.name}-{len(jobs) + 1}"[:63]
        base = "/".join(part for part in (prefix, self.run_dir.name, name) if part)
        job = {
            "name": name,
            "model": model,
            "keys": [c.key for c in calls],
            "input_uri": f"s3://{bucket}/{base}/input/{INPUT_FILE}",
            "output_uri": f"s3://{bucket}/{base}/output/",
            "token": uuid.uuid4().hex,
            "job_arn": None,
            "status": None,
            "message": None,
            "ingested": False,
            "created": _now(),
        }
        jobs.append(job)
        write_manifest(self.run_dir, self.manifest)
        return job

    def _submit(self, job: dict[str, Any], calls: list[Call]) -> None:
        from botocore.exceptions import ClientError

        bucket, key = _split_s3(job["input_uri"])
        lines = [
            json.dumps(
                {"recordId": call.key, "modelInput": anthropic_body(self._prepare(call).request)},
                ensure_ascii=False,
            )
            for call in calls
        ]
        try:
            self.s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise ConfigError(
                f"Bedrock batch bucket {bucket!r} does not exist or cannot be reached ({code}); create it in "
                f"the job's region, or fix [{SECTION}] s3_uri"
            ) from None
        try:
            self.s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=("\n".join(lines) + "\n").encode("utf-8"),
                ContentType="application/jsonl",
            )
        except ClientError as exc:
            raise BackendError(f"could not upload the batch records to {job['input_uri']}: {exc}") from None
        _, model_id = split_model_name(job["model"])
        response = self._call(
            "create_model_invocation_job",
            jobName=job["name"],
            roleArn=self.settings.role_arn,
            clientRequestToken=job["token"],
            modelId=model_id,
            inputDataConfig={"s3InputDataConfig": {"s3Uri": job["input_uri"], "s3InputFormat": "JSONL"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": job["output_uri"]}},
            timeoutDurationInHours=self.settings.timeout_hours,
        )
        job.update(job_arn=response["jobArn"], status=JobStatus.SUBMITTED.value, submitted=_now())
        write_manifest(self.run_dir, self.manifest)
        logger.info(
            "batch job %s submitted: %s (%d records of %s)",
            job["name"],
            job["job_arn"],
            len(calls),
            job["model"],
        )

    # -- waiting ---------------------------------------------------------------------------------------

    def _wait(self, jobs: list[dict[str, Any]]) -> None:
        total = sum(len(job["keys"]) for job in jobs)
        bar = tqdm(
            total=total, desc=f"{self.plan.spec.name} (batch)", unit="record", disable=not self.progress
        )
        delay = self.settings.poll_seconds
        try:
            while True:
                processed = 0
                for job in jobs:
                    if not JobStatus(job["status"]).finished:
                        answer = self._call("get_model_invocation_job", jobIdentifier=job["job_arn"])
                        job.update(
                            status=answer["status"],
                            message=answer.get("message"),
                            processed=answer.get("processedRecordCount"),
                        )
                    done = JobStatus(job["status"]).finished
                    processed += len(job["keys"]) if done else int(job.get("processed") or 0)
                write_manifest(self.run_dir, self.manifest)
                bar.n = min(processed, total)
                bar.set_postfix(status=",".join(sorted({job["status"] for job in jobs})), refresh=False)
                bar.refresh()
                if all(JobStatus(job["status"]).finished for job in jobs):
                    return
                self.sleep(delay)
                delay = min(delay * 1.5, self.settings.max_poll_seconds)
        finally:
            bar.close()

    # -- ingesting -------------------------------------------------------------------------------------

    def _ingest(self, job: dict[str, Any], calls: list[Call]) -> str | None:
        """Record every call of a finished job; return a message if the job as a whole did not succeed."""
        status = JobStatus(job["status"])
        answers = self._read_output(job)
        if not answers and status.succeeded:
            raise BackendError(
                f"batch job {job['name']} ({job['job_arn']}) is {status.value} but its output "
                f"{self._output_key(job)} is missing or empty"
            )
        answered = 0
        for call in calls:
            line = answers.get(call.key)
            if line is None:
                self.record(
                    call,
                    None,
                    f"BatchRecordMissing: no answer in batch job {job['name']} "
                    f"({status.value}{': ' + job['message'] if job.get('message') else ''})",
                )
            elif line.get("modelOutput"):
                prepared = self._prepare(call)
                generation = finish(
                    prepared,
                    anthropic_response(line["modelOutput"]),
                    cache_hit=False,
                    history=self.history,
                    cache=self.cache,
                    batch=True,
                )
                self.record(call, generation, None)
                answered += 1
            else:
                error = line.get("error") or {}
                self.record(
                    call,
                    None,
                    f"BatchRecordError: the service rejected the record "
                    f"({error.get('errorCode', '?')}: {error.get('errorMessage', 'no message')})",
                )
        job["ingested"] = True
        write_manifest(self.run_dir, self.manifest)
        logger.info("batch job %s: %d of %d records answered", job["name"], answered, len(calls))
        if status.succeeded:
            return None
        resume = f"workbench experiment run {self.plan.spec.path or '<spec>'} --resume {self.run_dir}"
        why = {
            JobStatus.EXPIRED: f"expired (not finished within timeout_hours={self.settings.timeout_hours}; "
            f"raise [{SECTION}] timeout_hours, up to 168)",
            JobStatus.FAILED: f"failed ({job.get('message') or 'no message'})",
            JobStatus.STOPPED: "was stopped",
        }[status]
        return (
            f"batch job {job['name']} ({job['job_arn']}) {why}: {answered} of {len(calls)} record(s) "
            f"answered and recorded, the rest are error rows; make them with: {resume} "
            "(add --no-batch to make them on demand)"
        )

    def _read_output(self, job: dict[str, Any]) -> dict[str, dict[str, Any]]:
        bucket, key = _split_s3(self._output_key(job))
        from botocore.exceptions import ClientError

        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        except self.s3.exceptions.NoSuchKey:
            return {}
        except ClientError as exc:
            raise BackendError(
                f"could not read the answers of batch job {job['name']} from s3://{bucket}/{key}: {exc}; "
                "nothing of this job was recorded yet: rerun with --resume when it is readable"
            ) from None
        answers: dict[str, dict[str, Any]] = {}
        for number, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s:%d is not JSON; that record counts as unanswered", key, number)
                continue
            answers[str(item.get("recordId"))] = item
        return answers

    @staticmethod
    def _output_key(job: dict[str, Any]) -> str:
        job_id = job["job_arn"].rsplit("/", 1)[-1]
        return f"{job['output_uri'].rstrip('/')}/{job_id}/{INPUT_FILE}.out"

    # -- helpers ---------------------------------------------------------------------------------------

    def _prepare(self, call: Call) -> PreparedCall:
        plan = self.plan
        return prepare(
            plan.cases[call.case_id],
            call.prompt_version,
            call.model,
            call.source,
            repeat=call.repeat,
            params=dict(plan.spec.params) or None,
            archive=plan.archive,
            registry=plan.registry,
        )

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One control-plane call; the service's refusals become one clear BackendError."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            return getattr(self.bedrock, operation)(**params)
        except NoCredentialsError:
            raise BackendError(
                "no AWS credentials found for Bedrock batch; set them outside the notebook "
                "('aws configure', 'aws sso login', or an instance/SageMaker role)"
            ) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", str(exc))
            hint = (
                (
                    " (allow bedrock:CreateModelInvocationJob, bedrock:GetModelInvocationJob and "
                    "iam:PassRole on the batch role)"
                )
                if code == "AccessDeniedException"
                else ""
            )
            raise BackendError(f"Bedrock batch {operation} refused: {code}: {message}{hint}") from None
        except BotoCoreError as exc:
            raise BackendError(f"Bedrock batch {operation} failed before an answer: {exc}") from None


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
