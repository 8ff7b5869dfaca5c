"""Run a plan: bounded concurrency, a rate limiter, retries on throttling, a budget, and resume.

Every call goes through :func:`workbench.summary.generate.summarize`, which consults the response cache
and records the generation in the history before it returns; the runner then appends the result to
``results.jsonl`` (flushed and fsynced, one writer lock) as soon as it arrives. So a run killed at any
point loses at most the calls in flight, and those were cached: resuming makes only the calls missing
from ``results.jsonl`` and pays for none twice.

The budget is checked in the main thread before each call is handed to a worker: the money spent so far
(all earlier rows of the run included), plus the estimates of the calls in flight, plus the estimate of
the next call must not pass ``budget_usd``. At most ``concurrency`` calls are in flight, so the check
always sees recent spending. A failing call becomes a row with an ``error`` message and the run goes on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from workbench.errors import BudgetError, DiskFullError, SpecError, ThrottledError, WorkbenchError
from workbench.experiments.manifest import build_manifest
from workbench.experiments.plan import Call, Plan, build_plan
from workbench.experiments.ratelimit import Backoff, RateLimiter
from workbench.experiments.spec import ExperimentSpec
from workbench.files import check_can_create
from workbench.records.layout import create_run_dir, default_runs_dir, lock_run
from workbench.records.manifest import latest_run_dir, read_manifest, write_manifest
from workbench.records.results import ResultsWriter, done_keys, open_results, read_results
from workbench.records.schema import result_row
from workbench.summary.cache import ResponseCache, open_cache
from workbench.summary.generate import summarize
from workbench.summary.history import Generation, History, open_history

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """What one invocation of :func:`run_experiment` did.

    Attributes
    ----------
    run_dir : Path
        The run folder.
    n_planned : int
        Calls in the plan.
    n_done_before : int
        Calls already recorded when this invocation started (resume).
    n_made : int
        Rows written by this invocation (cache hits and errors included).
    n_cache_hits : int
        Of those, answers served by the response cache (not billed).
    n_errors : int
        Of those, failed calls; ``--resume`` makes them again.
    n_not_started : int
        Calls left undone because the budget would have been passed.
    cost_usd : float
        Money spent by this invocation.
    total_cost_usd : float
        Money spent by the run across all its invocations.
    """

    run_dir: Path
    n_planned: int
    n_done_before: int
    n_made: int
    n_cache_hits: int
    n_errors: int
    n_not_started: int
    cost_usd: float
    total_cost_usd: float

    @property
    def complete(self) -> bool:
        """True when every planned call has a result without error."""
        return self.n_done_before + self.n_made - self.n_errors == self.n_planned


def run_experiment(
    spec: ExperimentSpec | Plan,
    *,
    runs_dir: str | Path | None = None,
    resume: bool | str | Path = False,
    progress: bool = True,
    backoff: Backoff | None = None,
    history: History | None = None,
    cache: ResponseCache | None = None,
    batch: bool | None = None,
) -> RunResult:
    """Run an experiment, or resume one, and return what was done.

    Parameters
    ----------
    spec
        A spec (its plan is built here, validating it) or an already built plan.
    runs_dir
        Parent of the run folder (default ``$WORKBENCH_RUNS_DIR`` or ``runs``).
    resume
        ``False``: a new run. ``True``: the newest run of this spec in ``runs_dir``. A path: that run folder.
        Resuming skips every call already recorded without error.
    progress
        Show a tqdm progress bar.
    backoff
        Retry policy on :class:`~workbench.errors.ThrottledError` (default :class:`Backoff()`).
    history, cache
        Where generations are recorded and answers cached (default: the user's ``open_history()`` and
        ``open_cache()``).
    batch
        Send the missing Anthropic Claude ``bedrock:`` calls as Bedrock batch jobs
        (:mod:`workbench.experiments.batch_jobs`); the other calls are made on demand first. ``None``: as the
        spec says (its ``batch`` key).

    Returns
    -------
    RunResult

    Raises
    ------
    SpecError
        If the spec names something unknown, or the run to resume was made from a different design or
        with other prompt texts under the same versions.
    BudgetError
        If not even the cheapest remaining call fits in the budget (nothing is started).
    NotFoundError
        If ``resume=True`` and there is no earlier run of the spec.
    BackendError, ConfigError
        Batch only: too few calls for a job, no role ARN or bucket (before anything is written); a job that
        failed or expired (after its answered records were recorded).
    """
    plan = spec if isinstance(spec, Plan) else build_plan(spec)
    spec = plan.spec
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    run_dir = _resume_dir(runs_dir, plan, resume) if resume else None
    if run_dir is None:
        check_can_create(runs_dir)  # an unwritable runs folder fails before the history is opened
    with contextlib.ExitStack() as locks:
        if run_dir is not None:  # a second --resume of this run refuses instead of repeating its calls
            locks.enter_context(lock_run(run_dir))
        return _run_locked(plan, runs_dir, run_dir, resume, locks, history=history, cache=cache,
                           backoff=backoff, progress=progress, batch=batch)


def _run_locked(
    plan: Plan, runs_dir: Path, run_dir: Path | None, resume: bool | str | Path, locks: contextlib.ExitStack,
    *, history: History | None, cache: ResponseCache | None, backoff: Backoff | None, progress: bool,
    batch: bool | None,
) -> RunResult:
    """:func:`run_experiment` once the run to resume (if any) is locked; a new run is locked when created."""
    spec = plan.spec
    rows = read_results(run_dir) if run_dir else []
    done = done_keys(rows)
    spent = sum(float(row.get("cost_usd") or 0) for row in rows)
    todo = [call for call in plan.calls if call.key not in done]
    history = history if history is not None else open_history()
    cache = cache if cache is not None else open_cache()
    cached = plan.cached_keys(cache)
    manifest = read_manifest(run_dir) if run_dir else None  # one object: batch jobs are updated in it
    batching = None
    if (spec.batch is not None) if batch is None else batch:
        from workbench.experiments.batch_planning import plan_batch

        batching = plan_batch(plan, todo, cached, manifest or {}, resume_dir=run_dir)
        todo = batching.on_demand
        _check_batch_budget(spec, spent, batching.cost())
    _check_budget(plan, todo, cached, spent)

    if run_dir is None or manifest is None:
        run_dir = create_run_dir(runs_dir, spec.design_hash())
        locks.enter_context(lock_run(run_dir))
        manifest = build_manifest(run_dir, plan)
    session: dict[str, Any] = {"started": _now(), "to_make": len(todo), "resumed": bool(resume),
                               "budget_usd": spec.budget_usd, "concurrency": spec.concurrency,
                               "batch_calls": batching.n_calls if batching else 0}
    manifest.setdefault("sessions", []).append(session)
    write_manifest(run_dir, manifest)
    logger.info("run %s: %d of %d calls to make", run_dir.name, len(todo), len(plan.calls))

    execution = _Execution(plan, run_dir, spent, cached, backoff or Backoff(), history, cache)
    completed = False
    try:
        execution.run(todo, progress=progress)
        if batching is not None and batching.n_calls:
            from workbench.experiments.batch_jobs import BatchRunner

            with open_results(run_dir) as writer:
                BatchRunner(batching, run_dir, manifest, execution.recorder(writer), history=history,
                            cache=cache, progress=progress).run()
        completed = True
    finally:
        session.update(execution.counts(), finished=_now(), interrupted=execution.interrupted)
        try:
            write_manifest(run_dir, manifest)
        except DiskFullError:
            if completed:
                raise
            # the run already failed (a full disk, most likely): its error is the one to show
            logger.warning("the disk is full: the manifest of %s keeps its earlier sessions", run_dir.name)
    n_todo = len(todo) + (batching.n_calls if batching else 0)
    return RunResult(
        run_dir=run_dir,
        n_planned=len(plan.calls),
        n_done_before=len(plan.calls) - n_todo,
        n_made=execution.made,
        n_cache_hits=execution.cache_hits,
        n_errors=execution.errors,
        n_not_started=execution.not_started,
        cost_usd=execution.spent - spent,
        total_cost_usd=execution.spent,
    )


def _resume_dir(runs_dir: Path, plan: Plan, resume: bool | str | Path) -> Path:
    """The run folder to resume, checked: same design, same prompt texts."""
    spec = plan.spec
    run_dir = (latest_run_dir(runs_dir, spec.design_hash(), name=spec.name) if resume is True
               else Path(str(resume)).resolve())
    manifest = read_manifest(run_dir)
    design = plan.spec.design_hash()
    if manifest.get("spec_hash") != design:
        raise SpecError(
            f"{run_dir} was run from a different design (hash {manifest.get('spec_hash')}, this spec "
            f"{design}): its prompts, models, sources, cases, repeats or params differ; "
            "start a new run instead"
        )
    recorded = manifest.get("prompt_hashes", {})
    changed = sorted(
        prompt.version for prompt in plan.prompts.values()
        if recorded.get(prompt.version, prompt.sha256) != prompt.sha256
    )
    if changed:
        raise SpecError(
            f"prompt version(s) {changed} changed since {run_dir.name} started (the files differ from the "
            "hashes in its manifest); restore them, or start a new run (better: save the change as a new "
            "version)"
        )
    return run_dir


def _check_budget(plan: Plan, todo: list[Call], cached: set[str], spent: float) -> None:
    spec = plan.spec
    if spec.budget_usd is None or not todo:
        return
    cheapest = min(todo, key=lambda call: plan.cost(call, cached))
    cost = plan.cost(cheapest, cached)
    if spent + cost > spec.budget_usd:
        raise BudgetError(
            f"budget_usd {spec.budget_usd:.4f} is too small for even one call: ${spent:.4f} already spent "
            f"and the cheapest remaining call ({cheapest.model}, prompt {cheapest.prompt_version}, case "
            f"{cheapest.case_id}) is estimated at ${cost:.4f}; raise budget_usd in the spec"
        )


def _check_batch_budget(spec: ExperimentSpec, spent: float, cost: float) -> None:
    if spec.budget_usd is not None and spent + cost > spec.budget_usd:
        raise BudgetError(
            f"the batch job(s) are estimated at ${cost:.4f} (batch price) and ${spent:.4f} is already spent: "
            f"more than budget_usd {spec.budget_usd:.4f}; a job cannot stop halfway, so raise budget_usd in "
            "the spec (or run on demand with --no-batch, which stops at the budget)"
        )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class _Execution:
    """The mutable state of one invocation: a thread pool, the results writer, the money and the counts."""

    def __init__(
        self, plan: Plan, run_dir: Path, spent: float, cached: set[str], backoff: Backoff, history: History,
        cache: ResponseCache,
    ) -> None:
        self.plan = plan
        self.run_dir = run_dir
        self.spent = spent
        self.cached = cached
        self.backoff = backoff
        self.history = history
        self.cache = cache
        rate = plan.spec.rate_limit
        self.limiter = RateLimiter(rate) if rate else None
        self.made = self.cache_hits = self.errors = self.not_started = 0
        self.interrupted = False

    def counts(self) -> dict[str, Any]:
        return {"made": self.made, "cache_hits": self.cache_hits, "errors": self.errors,
                "not_started": self.not_started, "spent_usd": self.spent}

    def run(self, todo: list[Call], *, progress: bool) -> None:
        spec = self.plan.spec
        reserved = 0.0
        in_flight: dict[Future[dict[str, Any]], Call] = {}
        bar = tqdm(total=len(todo), desc=spec.name, unit="call", disable=not progress)

        def settle(futures: set[Future[dict[str, Any]]]) -> None:
            nonlocal reserved
            for future in futures:
                call = in_flight.pop(future)
                reserved -= self.plan.cost(call, self.cached)
                row = future.result()  # a worker only raises BaseException (a simulated or real kill)
                self._count(row)
                bar.set_postfix(cost=f"${self.spent:.4f}", errors=self.errors, cached=self.cache_hits,
                                refresh=False)
                bar.update(1)

        pool = ThreadPoolExecutor(max_workers=spec.concurrency, thread_name_prefix="experiment")
        with open_results(self.run_dir) as writer:
            try:
                for index, call in enumerate(todo):
                    while len(in_flight) >= spec.concurrency:
                        finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                        settle(finished)
                    budget, cost = spec.budget_usd, self.plan.cost(call, self.cached)
                    if budget is not None and self.spent + reserved + cost > budget:
                        self.not_started = len(todo) - index
                        logger.warning(
                            "stopping before call %d of %d: $%.4f spent + $%.4f in flight + $%.4f estimated "
                            "would pass the budget of $%.4f", index + 1, len(todo), self.spent, reserved,
                            cost, budget,
                        )
                        break
                    reserved += cost
                    in_flight[pool.submit(self._call, call, writer)] = call
                while in_flight:
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    settle(finished)
            except BaseException:
                self.interrupted = True
                logger.warning("run interrupted; waiting for %d call(s) in flight to be recorded",
                               len(in_flight))
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
                bar.close()

    def recorder(self, writer: ResultsWriter) -> Callable[[Call, Generation | None, str | None], None]:
        """A ``record(call, generation, error)`` that writes and counts the row of a result obtained elsewhere
        (a batch job), exactly as for a call made here."""

        def record(call: Call, generation: Generation | None, error: str | None) -> None:
            row = self._row(call, generation.to_dict() if generation else None, 1, error=error)
            writer.write(row)
            self._count(row)

        return record

    def _count(self, row: dict[str, Any]) -> None:
        self.made += 1
        self.spent += float(row.get("cost_usd") or 0)
        self.cache_hits += bool(row.get("cache_hit"))
        self.errors += bool(row.get("error"))

    def _call(self, call: Call, writer: ResultsWriter) -> dict[str, Any]:
        """Make one call, retrying throttling; append its row and return it. Runs in a worker thread."""
        delays = self.backoff.delays()
        attempts = 0
        generation: Generation | None = None
        error: Exception | None = None
        while generation is None and error is None:
            attempts += 1
            if self.limiter:
                self.limiter.acquire()
            try:
                generation = summarize(
                    self.plan.cases[call.case_id], call.prompt_version, call.model, call.source,
                    repeat=call.repeat, params=dict(self.plan.spec.params) or None, history=self.history,
                    cache=self.cache, archive=self.plan.archive, registry=self.plan.registry,
                )
            except DiskFullError:  # not the call's fault: stop the run, it resumes once there is space
                raise
            except ThrottledError as exc:
                delay = next(delays, None)
                if delay is None:
                    error = exc
                else:
                    logger.info("throttled on %s (attempt %d): %s; retrying in %.2f s",
                                call.model, attempts, exc, delay)
                    time.sleep(delay)
            except Exception as exc:  # recorded as the call's result; the run goes on
                error = exc
        if error is not None:
            logger.warning("call %s (%s, %s, %s, %s) failed after %d attempt(s): %s", call.key, call.model,
                           call.prompt_version, call.source.value, call.case_id, attempts, error,
                           exc_info=not isinstance(error, WorkbenchError))
            row = self._row(call, None, attempts, error=f"{type(error).__name__}: {error}")
        else:
            assert generation is not None  # the loop ends with an answer or an error
            row = self._row(call, generation.to_dict(), attempts)
        writer.write(row)
        return row

    def _row(
        self, call: Call, generation: dict[str, Any] | None, attempts: int, *, error: str | None = None
    ) -> dict[str, Any]:
        g: dict[str, Any] = generation or {}
        return result_row(
            key=call.key,
            run_id=self.run_dir.name,
            prompt_version=call.prompt_version,
            prompt_hash=call.prompt_hash,
            model=call.model,
            source=call.source.value,
            case_id=call.case_id,
            patient_id=call.patient_id,
            repeat=call.repeat,
            params=g.get("params", dict(self.plan.spec.params)),
            generation_id=g.get("id"),
            output=g.get("output"),
            sections=g.get("sections"),
            missing_sections=g.get("missing_sections"),
            extra_sections=g.get("extra_sections"),
            input_tokens=g.get("input_tokens"),
            output_tokens=g.get("output_tokens"),
            latency_ms=g.get("latency_ms"),
            cost_usd=float(g.get("cost_usd") or 0.0),
            stop_reason=g.get("stop_reason"),
            truncated=g.get("truncated"),
            cache_hit=bool(g.get("cache_hit", False)),
            imaging=g.get("imaging"),
            user=g.get("user"),
            aws_identity=g.get("aws_identity"),
            error=error,
            attempts=attempts,
            timestamp=g.get("timestamp") or _now(),
        )

