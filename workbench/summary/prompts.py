"""Versioned prompts: one Markdown file per version with YAML front matter, ``$(name)`` placeholders.

A prompt file (``prompts/discharge_summary/v2.md``)::

    ---
    version: v2
    created: 2024-05-15
    author: seed
    description: the seed's Version 2 prompt
    parameters: {max_tokens: 4096, temperature: 0.0}
    system: optional system prompt (may hold placeholders too)
    citations: false   # true: notes are rendered with entry IDs and every sentence must cite them
    ---
    ...body with $(ichigo) and $(karte)...

Rendering is strict: a placeholder without a value and a value without a placeholder are both errors, so a
typo never silently sends a prompt with ``$(karte)`` left in it. Versions are immutable:
:meth:`PromptRegistry.create` never overwrites a file. Prompts export to and import from the ``{{name}}``
style of Amazon Bedrock Prompt Management (the ``CreatePrompt`` request) and of the MLflow prompt registry
(``mlflow.genai.register_prompt``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from workbench import config
from workbench.errors import NotFoundError, PromptError
from workbench.files import atomic_write, make_folder, read_utf8
from workbench.optional import optional_import
from workbench.summary.backends.base import param_problem
from workbench.summary.identity import local_user

yaml = optional_import("yaml", what="reading prompt files")

logger = logging.getLogger(__name__)

PLACEHOLDER_RE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
"""``$(name)``: the placeholder syntax of the seed's prompts."""

KNOWN_PLACEHOLDERS: dict[str, str] = {
    "ichigo": "the admission record (入院カルテ1号紙)",
    "karte": "the daily notes of the chosen source, in the tagged <day-...> format",
    "imaging": "the patient's imaging studies during the stay, one line each, from the archive",
    "admission_date": "admission date, YYYY-MM-DD",
    "discharge_date": "discharge date, YYYY-MM-DD",
    "department": "the department",
}
"""Placeholders :func:`workbench.summary.generate.summarize` can fill; a new prompt may use only these."""

_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,40}")
_PARAMETER_KEYS = {"max_tokens", "temperature", "top_p", "stop_sequences"}
_DOUBLE_BRACE_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
DEFAULT_NAME = "discharge_summary"


@dataclass(frozen=True)
class Prompt:
    """One prompt version.

    Attributes
    ----------
    version : str
        E.g. ``"v2"``.
    created : str
        ISO date.
    author, description : str
    parameters : dict
        Inference parameters: ``max_tokens``, ``temperature`` or ``top_p``, ``stop_sequences``.
    body : str
        The user message template.
    system : str or None
        The system prompt template, if any.
    sha256 : str
        Hash of :attr:`text`: the prompt's identity in history and experiment manifests.
    path : pathlib.Path or None
    text : str
        The file's text as stored (front matter and body).
    citations : bool
        The prompt asks for citations (front matter ``citations: true``): ``$(karte)`` and ``$(ichigo)`` are
        rendered with entry IDs (:mod:`workbench.summary.entries`) and the output is read into cited
        sentences (:mod:`workbench.summary.citations`).
    """

    version: str
    created: str
    author: str
    description: str
    parameters: dict[str, Any]
    body: str
    system: str | None = None
    sha256: str = ""
    path: Path | None = field(default=None, compare=False)
    text: str = field(default="", repr=False)
    citations: bool = False

    @property
    def placeholders(self) -> list[str]:
        """Placeholder names used by the system prompt and body, in order of first use."""
        names = PLACEHOLDER_RE.findall((self.system or "") + "\n" + self.body)
        return list(dict.fromkeys(names))

    def render(self, **values: str) -> str:
        """Substitute ``values`` into the body (strictly: see :func:`render_template`)."""
        return render_template(
            self.body,
            values,
            where=f"prompt {self.version}",
            also_used=PLACEHOLDER_RE.findall(self.system or ""),
        )

    def render_system(self, **values: str) -> str | None:
        """Substitute ``values`` into the system prompt (``None`` if the prompt has none)."""
        if self.system is None:
            return None
        return render_template(
            self.system,
            values,
            where=f"prompt {self.version} (system)",
            also_used=PLACEHOLDER_RE.findall(self.body),
        )


def render_template(
    template: str,
    values: dict[str, Any],
    *,
    where: str = "template",
    also_used: list[str] | tuple[str, ...] = (),
) -> str:
    """Replace every ``$(name)`` in ``template`` by ``values[name]``.

    Parameters
    ----------
    template : str
    values : dict
        One value per placeholder.
    where : str
        Named in error messages.
    also_used : sequence of str
        Placeholders used elsewhere in the same prompt (a value for them is not "unused").

    Raises
    ------
    PromptError
        If a placeholder has no value, or a value has no placeholder.
    """
    used = set(PLACEHOLDER_RE.findall(template))
    missing = sorted(used - set(values))
    if missing:
        raise PromptError(f"{where}: no value for placeholder(s) {', '.join(f'$({m})' for m in missing)}")
    unused = sorted(set(values) - used - set(also_used))
    if unused:
        raise PromptError(
            f"{where}: value(s) given for {', '.join(unused)} but the prompt has no such "
            f"placeholder (it uses {', '.join(sorted(used)) or 'none'})"
        )
    return PLACEHOLDER_RE.sub(lambda m: str(values[m.group(1)]), template)


def _file_text(
    version: str,
    created: str,
    author: str,
    description: str,
    parameters: dict[str, Any],
    system: str | None,
    body: str,
    citations: bool = False,
) -> str:
    front: dict[str, Any] = {
        "version": version,
        "created": created,
        "author": author,
        "description": description,
        "parameters": parameters,
    }
    if citations:
        front["citations"] = True
    if system is not None:
        front["system"] = system
    meta = yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=100)
    return f"---\n{meta}---\n{body.rstrip()}\n"


def _validate_parameters(parameters: Any, where: str) -> dict[str, Any]:
    if not isinstance(parameters, dict):
        raise PromptError(f"{where}: parameters must be a mapping, got {type(parameters).__name__}")
    unknown = set(parameters) - _PARAMETER_KEYS
    if unknown:
        raise PromptError(
            f"{where}: unknown parameter(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_PARAMETER_KEYS))}"
        )
    if parameters.get("temperature") is not None and parameters.get("top_p") is not None:
        raise PromptError(f"{where}: give temperature or top_p, not both (Claude 4.5 models reject both)")
    problem = param_problem(parameters)
    if problem:
        raise PromptError(f"{where}: parameters: {problem}")
    return dict(parameters)


def parse_prompt_file(path: Path) -> Prompt:
    """Read one prompt file.

    Raises
    ------
    PromptError
        If the front matter is missing or malformed, or its version does not match the file name.
    """
    text = read_utf8(path, PromptError, bom=False)
    match = re.match(r"---\n(.*?)\n---\n?(.*)\Z", text, re.DOTALL)
    if not match:
        raise PromptError(f"{path}:1: expected YAML front matter between '---' lines")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else 1
        raise PromptError(f"{path}:{line}: invalid front matter ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(meta, dict):
        raise PromptError(f"{path}:2: front matter must be a mapping")
    version = str(meta.get("version", ""))
    if version != path.stem:
        raise PromptError(
            f"{path}:2: front matter says version {version!r} but the file is named {path.name}"
        )
    body = match.group(2)
    system = meta.get("system")
    citations = meta.get("citations", False)
    if not isinstance(citations, bool):
        raise PromptError(f"{path}: citations must be true or false, got {citations!r}")
    unknown = [n for n in PLACEHOLDER_RE.findall((system or "") + body) if n not in KNOWN_PLACEHOLDERS]
    if unknown:
        raise PromptError(
            f"{path}: unknown placeholder(s) {', '.join(sorted(set(unknown)))}; "
            f"known: {', '.join(KNOWN_PLACEHOLDERS)}"
        )
    return Prompt(
        version=version,
        created=str(meta.get("created", "")),
        author=str(meta.get("author", "")),
        description=str(meta.get("description", "")),
        parameters=_validate_parameters(meta.get("parameters") or {}, str(path)),
        body=body,
        system=system,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        path=path,
        text=text,
        citations=citations,
    )


def default_root() -> Path:
    """``$WORKBENCH_PROMPTS_DIR``, ``[prompts] dir`` in the config, else the repository's prompts folder.

    The repository's folder is ``<repo>/prompts/discharge_summary``.
    """
    configured = config.prompts_settings().dir
    if configured is not None:
        return configured
    return Path(__file__).resolve().parents[2] / "prompts" / DEFAULT_NAME


class PromptRegistry:
    """The prompt versions in one folder.

    Parameters
    ----------
    root : str or pathlib.Path, optional
        The folder of ``<version>.md`` files (default: :func:`default_root`).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def _path(self, version: str) -> Path:
        return self.root / f"{version}.md"

    def normalize(self, version: str | int) -> str:
        """Accept ``2`` or ``"2"`` for ``"v2"`` (the seed's history shows bare numbers)."""
        text = str(version).strip()
        if text.isdigit() and not self._path(text).exists():
            return f"v{text}"
        return text

    def versions(self) -> list[str]:
        """Version names, in natural order (v2 before v10)."""
        if not self.root.is_dir():
            return []

        def natural(name: str) -> list[Any]:
            return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]

        return sorted((p.stem for p in self.root.glob("*.md")), key=natural)

    def get(self, version: str | int) -> Prompt:
        """Load one version.

        Raises
        ------
        NotFoundError
            If there is no such version (the message lists the existing ones).
        PromptError
            If the file is malformed.
        """
        name = self.normalize(version)
        path = self._path(name)
        if not _VERSION_RE.fullmatch(name) or not path.is_file():
            raise NotFoundError(
                f"unknown prompt version {str(version)!r} in {self.root}; "
                f"known: {', '.join(self.versions()) or 'none'}"
            )
        return parse_prompt_file(path)

    def list(self) -> pd.DataFrame:
        """One row per version: version, created, author, description, placeholders, parameters, sha256."""
        rows = []
        for name in self.versions():
            prompt = self.get(name)
            rows.append(
                {
                    "version": prompt.version,
                    "created": prompt.created,
                    "author": prompt.author,
                    "description": prompt.description,
                    "placeholders": ", ".join(prompt.placeholders),
                    "parameters": json.dumps(prompt.parameters, ensure_ascii=False),
                    "sha256": prompt.sha256,
                }
            )
        return pd.DataFrame(
            rows,
            columns=["version", "created", "author", "description", "placeholders", "parameters", "sha256"],
        )

    def render(self, version: str | int, **values: str) -> str:
        """Render a version's body with ``values`` (strict; see :func:`render_template`)."""
        return self.get(version).render(**values)

    def diff(self, a: str | int, b: str | int) -> str:
        """Unified diff of two versions' files (front matter included)."""
        pa, pb = self.get(a), self.get(b)
        lines = difflib.unified_diff(
            pa.text.splitlines(keepends=True),
            pb.text.splitlines(keepends=True),
            fromfile=f"{pa.version}.md",
            tofile=f"{pb.version}.md",
        )
        return "".join(lines)

    def next_version(self) -> str:
        """``v<N+1>`` for the highest ``v<N>`` present."""
        numbers = [int(v[1:]) for v in self.versions() if re.fullmatch(r"v\d+", v)]
        return f"v{max(numbers, default=0) + 1}"

    def create(
        self,
        body: str,
        *,
        version: str | None = None,
        description: str = "",
        author: str | None = None,
        parameters: dict[str, Any] | None = None,
        system: str | None = None,
        created: str | None = None,
        citations: bool = False,
    ) -> Prompt:
        """Write a new version; an existing version is never overwritten.

        Parameters
        ----------
        body : str
            The template, with ``$(name)`` placeholders from :data:`KNOWN_PLACEHOLDERS`.
        version : str, optional
            Default: :meth:`next_version`.
        description, author : str
            ``author`` defaults to the OS user.
        parameters : dict, optional
            ``max_tokens``, ``temperature`` or ``top_p``, ``stop_sequences``.
        system : str, optional
            A system prompt template.
        created : str, optional
            ISO date (default: today).
        citations : bool
            Ask for citations (see :attr:`Prompt.citations`).

        Returns
        -------
        Prompt

        Raises
        ------
        PromptError
            If the version exists, its name is invalid, the body is empty, or it uses an unknown placeholder.
        """
        name = version or self.next_version()
        if not _VERSION_RE.fullmatch(name):
            raise PromptError(
                f"invalid version name {name!r}: use letters, digits, '.', '_' or '-' (e.g. v4)"
            )
        if not body.strip():
            raise PromptError(f"prompt {name}: the body is empty")
        unknown = sorted(
            {n for n in PLACEHOLDER_RE.findall((system or "") + body) if n not in KNOWN_PLACEHOLDERS}
        )
        if unknown:
            raise PromptError(
                f"prompt {name}: unknown placeholder(s) {', '.join(unknown)}; "
                f"known: {', '.join(KNOWN_PLACEHOLDERS)}"
            )
        params = _validate_parameters(parameters or {}, f"prompt {name}")
        text = _file_text(
            name,
            created or dt.date.today().isoformat(),
            author or local_user().name,  # JupyterHub / SageMaker user, else the OS login
            description,
            params,
            system,
            body,
            citations,
        )
        make_folder(self.root)
        path = self._path(name)
        # whole or not at all (a full disk leaves no partial version behind), and create-only: fails if the
        # file exists, even when two people create the same version at once
        if not atomic_write(path, text.encode("utf-8"), exclusive=True):
            raise PromptError(
                f"prompt version {name} already exists ({path}); versions are never overwritten: "
                f"choose another name, e.g. {self.next_version()}"
            )
        logger.info("created prompt %s at %s", name, path)
        return parse_prompt_file(path)

    # -- export / import ----------------------------------------------------------------------------------
    def to_bedrock(
        self, version: str | int, *, name: str = DEFAULT_NAME, model_id: str | None = None
    ) -> dict[str, Any]:
        """The Bedrock Prompt Management ``CreatePrompt`` request for one version (``{{name}}`` variables).

        A prompt with a system part becomes a ``CHAT`` variant, otherwise a ``TEXT`` one. Pass the result as
        ``boto3.client("bedrock-agent").create_prompt(**request)``.
        """
        prompt = self.get(version)
        variables = [{"name": n} for n in prompt.placeholders]
        body = _to_double_braces(prompt.body, prompt.version)
        if prompt.system is None:
            template_type = "TEXT"
            template = {"text": {"text": body, "inputVariables": variables}}
        else:
            template_type = "CHAT"
            template = {
                "chat": {
                    "system": [{"text": _to_double_braces(prompt.system, prompt.version)}],
                    "messages": [{"role": "user", "content": [{"text": body}]}],
                    "inputVariables": variables,
                }
            }
        inference: dict[str, Any] = {}
        for ours, theirs in (
            ("max_tokens", "maxTokens"),
            ("temperature", "temperature"),
            ("top_p", "topP"),
            ("stop_sequences", "stopSequences"),
        ):
            if prompt.parameters.get(ours) is not None:
                inference[theirs] = prompt.parameters[ours]
        variant: dict[str, Any] = {
            "name": prompt.version,
            "templateType": template_type,
            "templateConfiguration": template,
            "metadata": [
                {"key": k, "value": str(v)}
                for k, v in (
                    ("created", prompt.created),
                    ("author", prompt.author),
                    ("sha256", prompt.sha256),
                    ("citations", "true" if prompt.citations else ""),
                )
                if v
            ],
        }
        if inference:
            variant["inferenceConfiguration"] = {"text": inference}
        if model_id:
            variant["modelId"] = model_id
        request: dict[str, Any] = {"name": name, "variants": [variant], "defaultVariant": prompt.version}
        if prompt.description:
            request["description"] = prompt.description[:200]
        return request

    def from_bedrock(
        self, request: dict[str, Any], *, variant: str | None = None, version: str | None = None
    ) -> Prompt:
        """Create a version from a Bedrock ``CreatePrompt`` request or ``GetPrompt`` response.

        Raises
        ------
        PromptError
            If the variant is missing or malformed, or the version exists.
        """
        variants = request.get("variants") or []
        wanted = variant or request.get("defaultVariant")
        chosen = next((v for v in variants if wanted in (None, v.get("name"))), None)
        if chosen is None:
            raise PromptError(
                f"Bedrock prompt has no variant {wanted!r} "
                f"(variants: {', '.join(str(v.get('name')) for v in variants) or 'none'})"
            )
        config_ = chosen.get("templateConfiguration") or {}
        system = None
        if "text" in config_:
            body = config_["text"]["text"]
        elif "chat" in config_:
            chat = config_["chat"]
            users = [
                c["text"]
                for m in chat.get("messages", [])
                if m.get("role") == "user"
                for c in m.get("content", [])
                if "text" in c
            ]
            if len(users) != 1:
                raise PromptError("a Bedrock CHAT prompt must hold exactly one user message to import")
            body = users[0]
            system = "\n".join(s["text"] for s in chat.get("system", []) if "text" in s) or None
        else:
            raise PromptError("Bedrock prompt variant has neither a text nor a chat template")
        inference = (chosen.get("inferenceConfiguration") or {}).get("text") or {}
        parameters = {
            ours: inference[theirs]
            for ours, theirs in (
                ("max_tokens", "maxTokens"),
                ("temperature", "temperature"),
                ("top_p", "topP"),
                ("stop_sequences", "stopSequences"),
            )
            if theirs in inference
        }
        metadata = {m["key"]: m["value"] for m in chosen.get("metadata", [])}
        return self.create(
            _from_double_braces(body),
            version=version or chosen.get("name"),
            description=request.get("description", ""),
            author=metadata.get("author"),
            parameters=parameters,
            system=_from_double_braces(system) if system else None,
            citations=metadata.get("citations") == "true",
        )

    def to_mlflow(self, version: str | int, *, name: str = DEFAULT_NAME) -> dict[str, Any]:
        """Keyword arguments for ``mlflow.genai.register_prompt`` (``{{name}}`` variables; metadata as tags).

        A prompt with a system part becomes a chat template (a list of role/content messages).
        """
        prompt = self.get(version)
        body = _to_double_braces(prompt.body, prompt.version)
        template: str | list[dict[str, str]] = body
        if prompt.system is not None:
            template = [
                {"role": "system", "content": _to_double_braces(prompt.system, prompt.version)},
                {"role": "user", "content": body},
            ]
        tags = {
            "workbench_version": prompt.version,
            "created": prompt.created,
            "author": prompt.author,
            "parameters": json.dumps(prompt.parameters, ensure_ascii=False),
            "sha256": prompt.sha256,
        }
        if prompt.citations:
            tags["citations"] = "true"
        return {"name": name, "template": template, "commit_message": prompt.description, "tags": tags}

    def from_mlflow(self, record: dict[str, Any], *, version: str | None = None) -> Prompt:
        """Create a version from :meth:`to_mlflow`'s shape.

        The record holds ``name``, ``template``, ``commit_message`` and ``tags``.

        Raises
        ------
        PromptError
            If the template is malformed or the version exists.
        """
        template = record.get("template")
        tags = record.get("tags") or {}
        system = None
        if isinstance(template, list):
            roles = {m.get("role"): m.get("content", "") for m in template}
            if "user" not in roles or set(roles) - {"system", "user"}:
                raise PromptError(
                    "an MLflow chat template must hold one user message and at most one system one"
                )
            body, system = roles["user"], roles.get("system")
        elif isinstance(template, str):
            body = template
        else:
            raise PromptError("MLflow prompt record has no template")
        try:
            parameters = json.loads(tags.get("parameters") or "{}")
        except json.JSONDecodeError:
            raise PromptError("MLflow prompt tag 'parameters' is not JSON") from None
        return self.create(
            _from_double_braces(body),
            version=version or tags.get("workbench_version"),
            description=record.get("commit_message") or "",
            author=tags.get("author"),
            parameters=parameters,
            system=_from_double_braces(system) if system else None,
            citations=tags.get("citations") == "true",
        )


def _to_double_braces(text: str, version: str) -> str:
    if "{{" in text or "}}" in text:
        raise PromptError(
            f"prompt {version} contains literal '{{{{' or '}}}}', which would be read as a variable "
            "in the {{name}} style; remove them before exporting"
        )
    return PLACEHOLDER_RE.sub(lambda m: "{{" + m.group(1) + "}}", text)


def _from_double_braces(text: str) -> str:
    if PLACEHOLDER_RE.search(text):
        raise PromptError(
            "the imported template already holds $(name) placeholders; expected the {{name}} style"
        )
    return _DOUBLE_BRACE_RE.sub(lambda m: f"$({m.group(1)})", text)
