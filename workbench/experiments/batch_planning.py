"""Which calls of a run go to Bedrock batch jobs, and what they would cost.

The calls of a run that are missing, not in the response cache, and on an Anthropic Claude ``bedrock:``
model go to batch jobs, one per model (several above ``max_records``); jobs recorded in a resumed run's
manifest are polled again, not resubmitted. Everything else is made on demand.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import BackendError
from workbench.experiments.batch_settings import SECTION, BatchSettings
from workbench.experiments.plan import Call, Plan
from workbench.summary.backends import estimate_cost, split_model_name

logger = logging.getLogger(__name__)


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
