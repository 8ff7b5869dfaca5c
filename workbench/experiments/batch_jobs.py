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
usual, before the batch jobs are waited for.

The pieces: :mod:`~workbench.experiments.batch_settings` (``[bedrock_batch]``),
:mod:`~workbench.experiments.batch_planning` (which calls go to jobs, their cost),
:mod:`~workbench.experiments.batch_clients` (the AWS clients) and this module, which runs the jobs.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from workbench.errors import BackendError, ConfigError
from workbench.experiments.batch_clients import make_clients
from workbench.experiments.batch_planning import BatchPlan
from workbench.experiments.batch_settings import SECTION
from workbench.experiments.plan import Call
from workbench.records.manifest import write_manifest
from workbench.summary.backends import split_model_name
from workbench.summary.backends.bedrock_native import anthropic_body, anthropic_response
from workbench.summary.cache import ResponseCache
from workbench.summary.generate import PreparedCall, finish, prepare
from workbench.summary.history import Generation, History

logger = logging.getLogger(__name__)

INPUT_FILE = "records.jsonl"

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
