"""Generate a discharge summary: render the prompt, call the model (or the cache), parse, record, return.

Order of work, so that a mistake costs nothing and a paid answer is never lost:

1. everything that can be wrong with the input is checked first (source, prompt version, model name,
   price, parameters, placeholders, the archive for ``$(imaging)``, the history and cache files);
2. the response cache is asked; only on a miss is the model called;
3. a fresh answer is cached, the generation is recorded in the history, and only then returned.

An error in step 1 or 2 writes nothing anywhere. :func:`prepare` and :func:`finish` expose the two halves
for callers that obtain responses another way (Bedrock batch inference ingests its results with
:func:`finish`, so reports cannot tell batch and on-demand apart).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from workbench import config
from workbench.errors import BackendError, CaseFormatError
from workbench.summary.backends import Backend, ModelRequest, ModelResponse, estimate_cost, get_backend
from workbench.summary.backends.base import CaseInput
from workbench.summary.cache import ResponseCache, cache_key, open_cache
from workbench.summary.cases import Case, Source
from workbench.summary.citations import cite_sentences
from workbench.summary.entries import EntryIndex
from workbench.summary.history import Generation, History, open_history
from workbench.summary.identity import local_user
from workbench.summary.imaging_context import configured_archive, imaging_context, patient_names
from workbench.summary.prompts import Prompt, PromptRegistry
from workbench.summary.redaction import Redactor
from workbench.summary.sections import parse_sections

__all__ = ["Generation", "PreparedCall", "finish", "prepare", "summarize"]

logger = logging.getLogger(__name__)

_PARAMETER_KEYS = ("max_tokens", "temperature", "top_p", "stop_sequences")
DEFAULT_MAX_TOKENS = 4096


@dataclass(frozen=True)
class PreparedCall:
    """A call ready to be made: what will be sent, and how to account for it.

    Attributes
    ----------
    case : Case
    prompt : Prompt
    backend : Backend
    source : Source
    request : ModelRequest
        As sent (redacted when :attr:`redactor` is set).
    key : str
        The response-cache key.
    repeat : int
    redactor : Redactor or None
    imaging : str
        What ``$(imaging)`` rested on (an :class:`~workbench.summary.imaging_context.ImagingStatus` value;
        empty when the prompt does not use it).
    """

    case: Case
    prompt: Prompt
    backend: Backend
    source: Source
    request: ModelRequest
    key: str
    repeat: int
    redactor: Redactor | None
    imaging: str = ""

    @property
    def model(self) -> str:
        """``backend:model-id``."""
        return self.backend.name

    def send(self) -> ModelResponse:
        """Make the call (a backend that reads the case is given it)."""
        if self.backend.reads_case:
            case = CaseInput(self.case, self.source, cite=self.prompt.citations)
            return self.backend.generate(self.request, case)
        return self.backend.generate(self.request)


def merge_params(defaults: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The prompt's inference parameters with ``overrides`` applied.

    Choosing ``top_p`` in ``overrides`` drops the prompt's ``temperature`` and the other way round (the two
    are never sent together).

    Raises
    ------
    BackendError
        For an unknown parameter, or both ``temperature`` and ``top_p`` in ``overrides``.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(_PARAMETER_KEYS))
    if unknown:
        raise BackendError(
            f"unknown inference parameter(s) {', '.join(unknown)}; known: {', '.join(_PARAMETER_KEYS)}"
        )
    merged = dict(defaults)
    if overrides.get("top_p") is not None:
        merged.pop("temperature", None)
    if overrides.get("temperature") is not None:
        merged.pop("top_p", None)
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return merged


def _redact_setting(redact: bool | None) -> bool:
    if redact is not None:
        return bool(redact)
    return config.summary_settings().redact


def current_user(backend: Backend | None = None) -> str:
    """The ``user`` recorded with a generation: the person (:func:`workbench.summary.identity.local_user`).

    The AWS identity of a Bedrock call is recorded apart, as ``aws_identity`` (``backend`` is accepted for
    callers of the older signature and not used).
    """
    return local_user().name


def aws_identity(backend: Backend) -> str:
    """The backend's caller identity (Bedrock: the AWS ARN), or ``""`` when it has none."""
    return backend.caller_identity() or ""


def prepare(
    case: Case,
    prompt_version: str | int,
    model: str | Backend,
    source: Source | str,
    *,
    repeat: int = 0,
    params: dict[str, Any] | None = None,
    redact: bool | None = None,
    archive: Any = None,
    registry: PromptRegistry | None = None,
) -> PreparedCall:
    """Check everything and build the request, without calling the model.

    Parameters
    ----------
    case : Case
    prompt_version : str or int
        ``"v3"`` (or ``3``).
    model : str or Backend
        ``backend:model-id``, or a backend object (tests pass a Bedrock backend with a stubbed client).
    source : Source or str
        ``doctor``, ``nursing`` or ``both``.
    repeat : int
        Repeat number (part of the cache key).
    params : dict, optional
        Overrides of the prompt's inference parameters.
    redact : bool, optional
        Replace identifiers before sending (default: ``[summary] redact`` / ``WORKBENCH_REDACT``, off).
        Not applied to backends that read the case locally (``baseline:``).
    archive : workbench.imaging.Archive, optional
        For ``$(imaging)`` (and names to redact); default ``workbench.imaging.connect()`` when needed and an
        archive is configured. With none configured, ``$(imaging)`` says imaging is unknown (see
        :class:`~workbench.summary.imaging_context.ImagingStatus`), and the call records it.
    registry : PromptRegistry, optional

    Returns
    -------
    PreparedCall

    Raises
    ------
    CaseFormatError, NotFoundError, PromptError, BackendError, ArchiveError
        One clear message for the first problem found.
    """
    source = Source.parse(source)
    _check_notes(case, source)
    prompt = (registry or PromptRegistry()).get(prompt_version)
    backend = get_backend(model) if isinstance(model, str) else model
    estimate_cost(backend.name, 0, 0)  # an unpriced cloud model fails here, before any call
    merged = merge_params(prompt.parameters, params)
    needed = set(prompt.placeholders)
    redacting = _redact_setting(redact) and not backend.reads_case
    if archive is None and "imaging" in needed:
        archive = configured_archive()
    imaging = imaging_context(case, archive) if "imaging" in needed else None
    index = EntryIndex(case) if prompt.citations else None  # a citing prompt shows every entry's ID
    values: dict[str, str] = {
        "ichigo": index.ichigo() if index else case.ichigo.strip(),
        "karte": (index.karte(source) if index else case.karte(source)) if "karte" in needed else "",
        "imaging": imaging.text if imaging is not None else "",
        "admission_date": case.admission_date.isoformat(),
        "discharge_date": case.discharge_date.isoformat(),
        "department": case.department,
    }
    values = {name: values[name] for name in needed}
    user_text = prompt.render(**values)
    system_text = prompt.render_system(**values)
    redactor = None
    if redacting:
        names = [case.patient_name] if case.patient_name else []
        if archive is not None:
            names += patient_names(case, archive)
        redactor = Redactor(names=names, ids=[case.patient_id])
        user_text = redactor.redact(user_text)
        system_text = redactor.redact(system_text) if system_text is not None else None
    request = ModelRequest(
        system=system_text,
        prompt=user_text,
        max_tokens=int(merged.get("max_tokens", DEFAULT_MAX_TOKENS)),
        temperature=merged.get("temperature"),
        top_p=merged.get("top_p"),
        stop_sequences=tuple(merged.get("stop_sequences") or ()),
    )
    context = CaseInput(case, source, cite=prompt.citations).cache_context() if backend.reads_case else None
    key = cache_key(backend.name, request.params(), request.system, request.prompt, repeat, context=context)
    return PreparedCall(
        case, prompt, backend, source, request, key, int(repeat), redactor,
        imaging=imaging.status.value if imaging is not None else "",
    )


def _check_notes(case: Case, source: Source) -> None:
    """Refuse to summarise no notes at all; warn when ``both`` has notes of one author only."""
    wanted = [s for s in (Source.DOCTOR, Source.NURSING) if source in (s, Source.BOTH)]
    empty = [s.value for s in wanted if not case.entries(s)]
    where = f" in {case.path}" if case.path else ""
    if len(empty) == len(wanted):
        raise CaseFormatError(
            f"case {case.case_id} has no {' or '.join(empty)} notes{where}: nothing to summarise; add the "
            "notes or choose another --source"
        )
    if empty:
        logger.warning("case %s has no %s notes%s: summarising the %s notes only", case.case_id, empty[0],
                       where, "nursing" if empty[0] == "doctor" else "doctor")


def finish(
    call: PreparedCall,
    response: ModelResponse,
    *,
    cache_hit: bool,
    history: History,
    cache: ResponseCache | None,
    batch: bool = False,
) -> Generation:
    """Account for a response: cache it (if fresh), parse it, record the generation, return it.

    Parameters
    ----------
    call : PreparedCall
    response : ModelResponse
    cache_hit : bool
        The response came from the cache (costs nothing, is not cached again).
    history : History
    cache : ResponseCache or None
        Where a fresh response is stored (``None``: not cached).
    batch : bool
        The response came from a batch job: priced at the batch rate.
    """
    if cache is not None and not cache_hit:
        cache.put(call.key, call.model, response)
    output = call.redactor.restore(response.text) if call.redactor else response.text
    parsed = parse_sections(output)
    # Citations count only where the prompt asked for them; other prompts' sentences are all uncited.
    known = EntryIndex(call.case) if call.prompt.citations else ()
    sentences = [s.to_dict() for s in cite_sentences(parsed.sections, known)]
    person = local_user()
    generation = Generation(
        id=str(uuid.uuid4()),
        timestamp=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        user=person.name,
        user_source=person.source,
        aws_identity=aws_identity(call.backend),
        model=call.model,
        prompt_version=call.prompt.version,
        prompt_hash=call.prompt.sha256,
        source=call.source.value,
        patient_id=call.case.patient_id,
        case_id=call.case.case_id,
        repeat=call.repeat,
        params=call.request.params(),
        output=output,
        sections=parsed.sections,
        missing_sections=parsed.missing,
        extra_sections=parsed.extra,
        input_tokens=response.input_tokens,
        output_tokens=response.output_tokens,
        latency_ms=response.latency_ms,
        cost_usd=0.0
        if cache_hit
        else estimate_cost(call.model, response.input_tokens, response.output_tokens, batch=batch),
        stop_reason=response.stop_reason,
        truncated=response.truncated,
        cache_hit=cache_hit,
        redacted=call.redactor is not None,
        sentences=sentences,
        imaging=call.imaging,
    )
    history.record(generation)
    if generation.truncated:
        logger.warning(
            "generation %s hit max_tokens (%d): the summary is truncated",
            generation.id,
            call.request.max_tokens,
        )
    return generation


def summarize(
    case: Case,
    prompt_version: str | int,
    model: str | Backend,
    source: Source | str,
    *,
    repeat: int = 0,
    params: dict[str, Any] | None = None,
    history: History | None = None,
    cache: ResponseCache | None = None,
    redact: bool | None = None,
    archive: Any = None,
    use_cache: bool = True,
    registry: PromptRegistry | None = None,
) -> Generation:
    """Generate (or fetch from the cache) one discharge summary and record it in the history.

    Parameters
    ----------
    case, prompt_version, model, source, repeat, params, redact, archive, registry
        See :func:`prepare`.
    history : History, optional
        Default ``open_history()``.
    cache : ResponseCache, optional
        Default ``open_cache()``.
    use_cache : bool
        Ask the cache first (a fresh answer is stored either way).

    Returns
    -------
    Generation
        Already recorded in ``history``.

    Raises
    ------
    CaseFormatError, NotFoundError, PromptError, BackendError, ThrottledError, ArchiveError
        Nothing is written to the history or the cache when one is raised.
    """
    call = prepare(
        case,
        prompt_version,
        model,
        source,
        repeat=repeat,
        params=params,
        redact=redact,
        archive=archive,
        registry=registry,
    )
    history = history if history is not None else open_history()
    cache = cache if cache is not None else open_cache()
    cached = cache.get(call.key) if use_cache else None
    response = cached if cached is not None else call.send()
    return finish(call, response, cache_hit=cached is not None, history=history, cache=cache)
