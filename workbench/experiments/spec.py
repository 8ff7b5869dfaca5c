"""Experiment specs: which prompt versions, models, sources, cases and repeats to run, and how.

A spec is a YAML file in ``eval/experiments/``::

    name: demo-baseline
    prompts: [v1, v2]                 # prompt versions (workbench.summary.prompts)
    models: [baseline:extractive]     # backend:model-id
    sources: [doctor, nursing, both]  # which notes the model sees
    cases: ../cases                   # a folder of case folders, or a list of case folders
    repeats: 1                        # samples per (prompt, model, source, case)
    concurrency: 4                    # calls in flight at once
    budget_usd: 5.0                   # stop before a call would pass it (null: no limit)
    rate_limit: 60                    # requests per minute (null: no limit)
    params: {temperature: 0.2}        # overrides of max_tokens, temperature, top_p, stop_sequences
    judge: {model: "bedrock:...", repeats: 3}   # settings for the evaluation's LLM judge
    batch: true                       # Bedrock batch inference (or a table overriding [bedrock_batch])

Relative paths are resolved against the spec file's folder. :func:`load_spec` checks the shape and the
values eagerly; whether the prompt versions, models and cases exist is checked by
:func:`workbench.experiments.plan.build_plan`, still before any call is made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import SpecError
from workbench.experiments.batch_settings import BatchSettings
from workbench.files import read_utf8
from workbench.optional import optional_import
from workbench.summary.backends.base import param_problem
from workbench.summary.cases import Source

yaml = optional_import("yaml", what="reading experiment specs")

logger = logging.getLogger(__name__)

SPEC_KEYS = frozenset(
    {"name", "prompts", "models", "sources", "cases", "repeats", "concurrency", "budget_usd", "rate_limit",
     "params", "judge", "batch"}
)
REQUIRED_KEYS = ("prompts", "models", "sources", "cases")
PARAM_KEYS = frozenset({"max_tokens", "temperature", "top_p", "stop_sequences"})
MAX_REPEATS = 1000
"""The most ``repeats`` a spec may ask for (a typo like ``2000000`` is refused before planning)."""
"""Inference parameters a spec may override (the fields of ``workbench.summary.backends.ModelRequest``)."""

DESIGN_KEYS = ("prompts", "models", "sources", "cases", "repeats", "params")
"""The fields that decide which calls a run makes; their hash names the run and guards ``--resume``."""


@dataclass(frozen=True)
class ExperimentSpec:
    """A validated experiment spec.

    Attributes
    ----------
    name : str
        A short name for listings (default: the spec file's stem).
    prompts : tuple of str
        Prompt versions.
    models : tuple of str
        Model names, ``backend:model-id``.
    sources : tuple of Source
        Which notes the model sees.
    cases : tuple of Path
        Absolute paths of case folders, in order.
    repeats : int
        Samples per (prompt, model, source, case); repeats are distinct calls.
    concurrency : int
        Calls in flight at once.
    budget_usd : float or None
        The run stops before a call that would pass it; ``None`` means no limit.
    rate_limit : float or None
        Requests per minute across all threads; ``None`` means no limit.
    params : dict
        Inference parameter overrides (``max_tokens``, ``temperature``, ``top_p``, ``stop_sequences``).
    judge : dict or None
        Settings for the LLM judge, passed to the evaluation report.
    batch : dict or None
        ``None``: calls are made on demand. A mapping (empty for ``batch: true``): Bedrock batch inference,
        with overrides of the ``[bedrock_batch]`` settings (:mod:`workbench.experiments.batch_jobs`). Not part
        of the design: a batch run and an on-demand run of a spec compute the same calls.
    path : Path or None
        The spec file, when it was read from one.
    """

    name: str
    prompts: tuple[str, ...]
    models: tuple[str, ...]
    sources: tuple[Source, ...]
    cases: tuple[Path, ...]
    repeats: int = 1
    concurrency: int = 4
    budget_usd: float | None = None
    rate_limit: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    judge: dict[str, Any] | None = None
    batch: dict[str, Any] | None = None
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as plain JSON-serialisable data (absolute case paths)."""
        return {
            "name": self.name,
            "prompts": list(self.prompts),
            "models": list(self.models),
            "sources": [s.value for s in self.sources],
            "cases": [str(p) for p in self.cases],
            "repeats": self.repeats,
            "concurrency": self.concurrency,
            "budget_usd": self.budget_usd,
            "rate_limit": self.rate_limit,
            "params": dict(self.params),
            "judge": self.judge,
            "batch": self.batch,
            "path": str(self.path) if self.path else None,
        }

    def design_hash(self) -> str:
        """Return a short hash of the fields that decide the calls (not budget, concurrency or name).

        Raising the budget or the concurrency of a stopped run and resuming it is allowed; changing what it
        computes is not.
        """
        data = self.to_dict()
        design = {key: data[key] for key in DESIGN_KEYS}
        text = json.dumps(design, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]

    def replace(self, **changes: Any) -> ExperimentSpec:
        """Return a copy with some fields changed, validated like a spec file (paths against the cwd)."""
        data = self.to_dict()
        del data["path"]
        data.update(changes)
        origin = f"{self.path or self.name} (with overrides {sorted(changes)})"
        return spec_from_dict(data, base_dir=Path.cwd(), origin=origin, path=self.path)


def load_spec(path: str | Path, **overrides: Any) -> ExperimentSpec:
    """Read and validate a spec file.

    Parameters
    ----------
    path
        The YAML file.
    **overrides
        Top-level keys replacing the file's (``None`` values are ignored), e.g. from notebook parameters.
        Relative case paths given here are resolved against the current folder.

    Returns
    -------
    ExperimentSpec

    Raises
    ------
    SpecError
        If the file is missing, is not YAML, or a key is unknown, missing or has a wrong value.
    """
    spec_path = Path(path).expanduser().resolve()
    if not spec_path.is_file():
        raise SpecError(f"experiment spec {path} does not exist")
    try:
        data = yaml.safe_load(read_utf8(spec_path, SpecError))
    except yaml.YAMLError as exc:
        raise SpecError(f"{spec_path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{spec_path} must hold a mapping of spec keys, got {type(data).__name__}")
    spec = spec_from_dict(data, base_dir=spec_path.parent, origin=str(spec_path), path=spec_path)
    changes = {key: value for key, value in overrides.items() if value is not None}
    return spec.replace(**changes) if changes else spec


def spec_from_dict(
    data: Mapping[str, Any], *, base_dir: Path, origin: str = "spec", path: Path | None = None
) -> ExperimentSpec:
    """Validate a spec given as a mapping.

    Parameters
    ----------
    data
        The spec's top-level keys (see the module docstring).
    base_dir
        Folder that relative case paths are resolved against.
    origin
        Named in error messages (the spec file).
    path
        The spec file, kept in the result.

    Raises
    ------
    SpecError
        If a key is unknown, missing or has a wrong value.
    """
    unknown = sorted(set(data) - SPEC_KEYS)
    if unknown:
        raise SpecError(f"{origin}: unknown key(s) {unknown}; known keys are {sorted(SPEC_KEYS)}")
    missing = [key for key in REQUIRED_KEYS if not data.get(key)]
    if missing:
        raise SpecError(f"{origin}: missing or empty key(s) {missing}")
    sources = []
    for value in _str_list(data["sources"], "sources", origin):
        try:
            sources.append(Source(value))
        except ValueError:
            raise SpecError(
                f"{origin}: unknown source {value!r}; use one of {[s.value for s in Source]}"
            ) from None
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise SpecError(f"{origin}: params must be a mapping, got {params!r}")
    bad_params = sorted(set(params) - PARAM_KEYS)
    if bad_params:
        raise SpecError(f"{origin}: unknown inference parameter(s) {bad_params}; known: {sorted(PARAM_KEYS)}")
    if "temperature" in params and "top_p" in params:
        raise SpecError(f"{origin}: params give both temperature and top_p; Claude 4.5 models take only one")
    problem = param_problem(params)
    if problem:
        raise SpecError(f"{origin}: params: {problem}")
    judge = data.get("judge")
    if judge is not None and not isinstance(judge, dict):
        raise SpecError(f"{origin}: judge must be a mapping of settings (e.g. model, repeats), got {judge!r}")
    batch = _batch(data.get("batch"), origin)
    return ExperimentSpec(
        name=str(data.get("name") or (path.stem if path else "experiment")),
        prompts=_unique(_str_list(data["prompts"], "prompts", origin), "prompts", origin),
        models=_unique(_str_list(data["models"], "models", origin), "models", origin),
        sources=_unique(sources, "sources", origin),
        cases=_case_paths(data["cases"], base_dir, origin),
        repeats=_number(
            data.get("repeats", 1), "repeats", origin, integer=True, minimum=1, maximum=MAX_REPEATS
        ),
        concurrency=_number(data.get("concurrency", 4), "concurrency", origin, integer=True, minimum=1),
        budget_usd=_optional_number(data.get("budget_usd"), "budget_usd", origin, minimum=0),
        rate_limit=_optional_number(data.get("rate_limit"), "rate_limit", origin, minimum=0, positive=True),
        params=dict(params),
        judge=dict(judge) if judge else None,
        batch=batch,
        path=path,
    )


def _batch(value: Any, origin: str) -> dict[str, Any] | None:
    """``batch``: true/false/null, or a table of ``[bedrock_batch]`` overrides (checked here)."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{origin}: batch must be true, false or a mapping of batch settings, got {value!r}")
    BatchSettings.load(value, origin=origin)
    return dict(value)


def _str_list(value: Any, key: str, origin: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and value and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise SpecError(f"{origin}: {key} must be a string or a list of strings, got {value!r}")


def _unique(values: list, key: str, origin: str) -> tuple:
    duplicates = sorted({str(v) for v in values if values.count(v) > 1})
    if duplicates:
        raise SpecError(f"{origin}: {key} lists {duplicates} more than once")
    return tuple(values)


def _case_paths(value: Any, base_dir: Path, origin: str) -> tuple[Path, ...]:
    """Resolve ``cases``: one folder holding case folders, or a list of case folders."""
    entries = _str_list([str(v) for v in value] if isinstance(value, list) else str(value), "cases", origin)
    paths = [(base_dir / Path(entry).expanduser()).resolve() for entry in entries]
    for entry, path in zip(entries, paths, strict=True):
        if not path.is_dir():
            raise SpecError(f"{origin}: case folder {entry!r} does not exist (looked for {path})")
    if len(paths) == 1 and not (paths[0] / "meta.json").exists():
        children = sorted(p for p in paths[0].iterdir() if (p / "meta.json").is_file())
        if not children:
            raise SpecError(f"{origin}: {paths[0]} holds no case folders (folders with a meta.json)")
        return tuple(children)
    for entry, path in zip(entries, paths, strict=True):
        if not (path / "meta.json").is_file():
            raise SpecError(f"{origin}: {entry!r} is not a case folder (no meta.json in {path})")
    return _unique(paths, "cases", origin)


def _number(
    value: Any,
    key: str,
    origin: str,
    *,
    integer: bool = False,
    minimum: float = 0,
    maximum: float | None = None,
) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or not math.isfinite(value) or value < minimum:
        kind = "an integer" if integer else "a number"
        raise SpecError(f"{origin}: {key} must be {kind} >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise SpecError(
            f"{origin}: {key} {value} is more than {maximum}; split the experiment into smaller runs"
        )
    return value


def _optional_number(
    value: Any, key: str, origin: str, *, minimum: float = 0, positive: bool = False
) -> float | None:
    if value is None:
        return None
    number = float(_number(value, key, origin, minimum=minimum))
    if positive and number == 0:
        raise SpecError(f"{origin}: {key} must be > 0 (or null for no limit), got {value!r}")
    return number

