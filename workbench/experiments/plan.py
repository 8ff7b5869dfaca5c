"""Expand a spec into the calls it makes, and estimate their tokens and cost before any is made.

:func:`build_plan` is where a spec meets the world: it loads every case, looks up every prompt version and
model backend, and fails with one :class:`~workbench.errors.SpecError` naming the first unknown one, so a
typo costs nothing. It then prepares every request exactly as it will be sent
(:func:`workbench.summary.generate.prepare`: rendered prompt, merged parameters, price known), so the
estimates count the real prompt, and the response-cache key of each call is known in advance: calls already
in the cache are free, and the dry run and the budget say so.

Each call gets a stable ``key`` (prompt version and hash, model, source, case, repeat, parameters) that
``results.jsonl`` rows carry and ``--resume`` skips.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from workbench.errors import BackendError, NotFoundError, PromptError, SpecError
from workbench.experiments.spec import ExperimentSpec
from workbench.summary import backends
from workbench.summary.cache import ResponseCache
from workbench.summary.cases import Case, Source, load_case
from workbench.summary.generate import prepare
from workbench.summary.imaging_context import configured_archive
from workbench.summary.prompts import Prompt, PromptRegistry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Call:
    """One model call of a run, with its estimated tokens and cost.

    Attributes
    ----------
    key : str
        Stable identity of the call across runs and resumes (16 hex digits).
    prompt_version, prompt_hash, model, source, case_id, patient_id, repeat
        What is called on what.
    cache_key : str
        The response-cache key of the request as it will be sent.
    input_tokens, output_tokens : int
        Estimated tokens: the rendered system prompt and prompt in, the reference summary's length out
        (capped at ``max_tokens``; ``max_tokens`` itself when the case has no reference).
    cost_usd : float
        Estimated price of the call if it is not answered from the cache
        (``workbench.summary.backends.estimate_cost``).
    """

    key: str
    prompt_version: str
    prompt_hash: str
    model: str
    source: Source
    case_id: str
    patient_id: str
    repeat: int
    cache_key: str
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(frozen=True)
class Estimate:
    """What a run would still do: calls, tokens and cost, overall and per model and prompt version.

    Attributes
    ----------
    n_planned : int
        Calls in the plan.
    n_done : int
        Calls skipped because the run already holds their result.
    n_to_make : int
        Calls left to make.
    n_cached : int
        Of those, calls the response cache will answer (free).
    input_tokens, output_tokens : int
        Estimated tokens of the calls left that the cache will not answer.
    cost_usd : float
        Estimated cost of those calls.
    table : pandas.DataFrame
        Per (model, prompt_version): calls, cached, input_tokens, output_tokens, cost_usd.
    """

    n_planned: int
    n_done: int
    n_to_make: int
    n_cached: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    table: pd.DataFrame


@dataclass
class Plan:
    """The calls of a spec, in the order the runner makes them.

    The order is repeat, then case, then model, prompt version and source, so a run stopped by its budget
    holds complete comparisons on its first cases rather than one model's answers for every case.

    Attributes
    ----------
    spec : ExperimentSpec
    cases : dict of str to Case
        The loaded cases by ``case_id``.
    prompts : dict of str to Prompt
        The prompt versions by version.
    calls : list of Call
    registry : PinnedRegistry
        The prompt versions of the run, read once.
    archive : Archive or None
        The imaging archive, connected once when a prompt uses ``$(imaging)``.
    """

    spec: ExperimentSpec
    cases: dict[str, Case]
    prompts: dict[str, Prompt]
    calls: list[Call]
    registry: PinnedRegistry
    archive: Any = None

    def cached_keys(self, cache: ResponseCache) -> set[str]:
        """Return the keys of the calls whose answer is already in ``cache``."""
        return {call.key for call in self.calls if call.cache_key in cache}

    def cost(self, call: Call, cached: Collection[str]) -> float:
        """The estimated cost of ``call``: 0 when the cache holds its answer."""
        return 0.0 if call.key in cached else call.cost_usd

    def estimate(self, done: Collection[str] = (), cached: Collection[str] = ()) -> Estimate:
        """Estimate the calls not in ``done``; those in ``cached`` are free.

        Parameters
        ----------
        done
            Keys of results already recorded (the run being resumed).
        cached
            Keys of calls the response cache answers (:meth:`cached_keys`).

        Returns
        -------
        Estimate
        """
        done, cached = set(done), set(cached)
        todo = [call for call in self.calls if call.key not in done]
        paid = [call for call in todo if call.key not in cached]
        columns = ["model", "prompt_version", "calls", "cached", "input_tokens", "output_tokens", "cost_usd"]
        if todo:
            frame = pd.DataFrame([asdict(call) for call in todo])
            frame["cached"] = frame["key"].isin(cached)
            for column in ("input_tokens", "output_tokens", "cost_usd"):
                frame.loc[frame["cached"], column] = 0
            table = (
                frame.groupby(["model", "prompt_version"], sort=False)
                .agg(calls=("key", "size"), cached=("cached", "sum"), input_tokens=("input_tokens", "sum"),
                     output_tokens=("output_tokens", "sum"), cost_usd=("cost_usd", "sum"))
                .reset_index()
            )
        else:
            table = pd.DataFrame(columns=columns)
        return Estimate(
            n_planned=len(self.calls),
            n_done=len(self.calls) - len(todo),
            n_to_make=len(todo),
            n_cached=len(todo) - len(paid),
            input_tokens=sum(call.input_tokens for call in paid),
            output_tokens=sum(call.output_tokens for call in paid),
            cost_usd=sum(call.cost_usd for call in paid),
            table=table,
        )


class PinnedRegistry(PromptRegistry):
    """A prompt registry whose versions are read once and then fixed for the whole run.

    An edit to a prompt file while a run is going cannot mix two texts under one version (the manifest's
    ``prompt_hashes`` stay true), and no call re-reads and re-parses the file.

    Parameters
    ----------
    registry
        Where the versions come from.
    prompts
        The versions pinned, by version.
    """

    def __init__(self, registry: PromptRegistry, prompts: dict[str, Prompt]) -> None:
        super().__init__(registry.root)
        self._pinned = {prompt.version: prompt for prompt in prompts.values()}

    def get(self, version: str | int) -> Prompt:
        """The pinned prompt of ``version``, else the registry's."""
        pinned = self._pinned.get(self.normalize(version))
        return pinned if pinned is not None else super().get(version)


def call_key(
    prompt_version: str, prompt_hash: str, model: str, source: Source | str, case_id: str, repeat: int,
    params: dict[str, Any],
) -> str:
    """Return the stable key of a call: 16 hex digits of a SHA-256 over everything that decides its answer."""
    identity = {
        "prompt_version": prompt_version, "prompt_hash": prompt_hash, "model": model,
        "source": Source(source).value, "case_id": case_id, "repeat": repeat, "params": params,
    }
    text = json.dumps(identity, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def build_plan(spec: ExperimentSpec, *, registry: PromptRegistry | None = None) -> Plan:
    """Check that everything the spec names exists, and expand it into calls.

    Parameters
    ----------
    spec
        A spec from :func:`~workbench.experiments.spec.load_spec`.
    registry
        Where prompt versions are looked up (default: the project's registry).

    Returns
    -------
    Plan

    Raises
    ------
    SpecError
        If a prompt version, a model backend or a case is unknown, or two case folders share a case id.
    CaseFormatError
        If a case file is malformed (with file:line).
    """
    origin = str(spec.path) if spec.path else spec.name
    registry = registry or PromptRegistry()
    prompts: dict[str, Prompt] = {}
    for version in spec.prompts:
        try:
            prompts[version] = registry.get(version)
        except NotFoundError as exc:
            raise SpecError(f"{origin}: {exc}") from None
        except PromptError as exc:
            raise SpecError(f"{origin}: prompt version {version!r} cannot be used: {exc}") from None
    for model in spec.models:
        try:
            backends.get_backend(model)
        except BackendError as exc:
            raise SpecError(f"{origin}: {exc}") from None
    cases: dict[str, Case] = {}
    for path in spec.cases:
        case = load_case(path)
        if case.case_id in cases:
            raise SpecError(
                f"{origin}: case id {case.case_id!r} appears twice ({cases[case.case_id].path} and {path})"
            )
        cases[case.case_id] = case
    registry = PinnedRegistry(registry, prompts)
    archive = configured_archive() if any("imaging" in p.placeholders for p in prompts.values()) else None
    calls = [
        _call(spec, registry, archive, prompts[version], model, source, case, repeat, origin)
        for repeat in range(spec.repeats)
        for case in cases.values()
        for model in spec.models
        for version in spec.prompts
        for source in spec.sources
    ]
    logger.info("plan %s: %d calls", spec.name, len(calls))
    return Plan(spec=spec, cases=cases, prompts=prompts, calls=calls, registry=registry, archive=archive)


def _call(
    spec: ExperimentSpec, registry: PromptRegistry, archive: Any, prompt: Prompt, model: str, source: Source,
    case: Case, repeat: int, origin: str,
) -> Call:
    try:
        prepared = prepare(case, prompt.version, model, source, repeat=repeat,
                           params=dict(spec.params) or None, archive=archive, registry=registry)
    except (PromptError, BackendError) as exc:
        raise SpecError(
            f"{origin}: prompt {prompt.version} on {model} for case {case.case_id}: {exc}"
        ) from None
    request = prepared.request
    input_tokens = backends.estimate_tokens((request.system or "") + request.prompt)
    output_tokens = request.max_tokens
    if case.reference:
        output_tokens = min(output_tokens, backends.estimate_tokens(case.reference))
    return Call(
        key=call_key(prompt.version, prompt.sha256, model, source, case.case_id, repeat, spec.params),
        prompt_version=prompt.version,
        prompt_hash=prompt.sha256,
        model=model,
        source=source,
        case_id=case.case_id,
        patient_id=case.patient_id,
        repeat=repeat,
        cache_key=prepared.key,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=backends.estimate_cost(model, input_tokens, output_tokens),
    )
