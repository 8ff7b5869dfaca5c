"""Settings: ``WORKBENCH_*`` environment variables first, then ``config.toml`` in the config folder.

Folders
-------
config folder
    ``$WORKBENCH_CONFIG_DIR``, else the platform's user config folder (``~/.config/workbench`` on Linux).
    Holds ``config.toml`` and secrets (mode 0600), never anything a notebook prints.
data folder
    ``$WORKBENCH_DATA_DIR``, else the user data folder (``~/.local/share/workbench``): the managed Orthanc's
    storage, the generation history.
cache folder
    ``$WORKBENCH_CACHE_DIR``, else the user cache folder (``~/.cache/workbench``): DICOM instance cache,
    model response cache.

The config file is TOML with one table per concern, for example::

    [orthanc]
    url = "http://127.0.0.1:8042"
    username = "workbench"
    password_file = "/home/me/.config/workbench/orthanc-password"

Credentials are read from the environment or from a 0600 file named in the config; they are never stored
in notebooks, outputs or history.

Every environment variable the package reads is a member of :class:`EnvVar`. Each area reads its settings
as one typed object (:func:`orthanc_settings`, :func:`bedrock_settings`, :func:`openai_settings`,
:func:`summary_settings`, :func:`storage_settings`, :func:`cache_settings`, :func:`prompts_settings`,
:func:`batch_table`, :func:`prices_table`). The file is parsed once per process and again only when it
changes (its modification time or size); the environment is read on every call, so a variable set in a
running notebook takes effect at once.
"""

from __future__ import annotations

import copy
import enum
import logging
import os
import stat
import threading
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from workbench.errors import ConfigError
from workbench.files import atomic_write

logger = logging.getLogger(__name__)

APP_NAME = "workbench"
CONFIG_FILE = "config.toml"


class EnvVar(enum.StrEnum):
    """Every environment variable the package reads (each overrides its ``config.toml`` setting)."""

    CONFIG_DIR = "WORKBENCH_CONFIG_DIR"
    DATA_DIR = "WORKBENCH_DATA_DIR"
    CACHE_DIR = "WORKBENCH_CACHE_DIR"
    RUNS_DIR = "WORKBENCH_RUNS_DIR"
    PROMPTS_DIR = "WORKBENCH_PROMPTS_DIR"
    RECORDS_FILE = "WORKBENCH_RECORDS_FILE"
    ORTHANC_URL = "WORKBENCH_ORTHANC_URL"
    ORTHANC_USER = "WORKBENCH_ORTHANC_USER"
    ORTHANC_PASSWORD = "WORKBENCH_ORTHANC_PASSWORD"
    ORTHANC_BINARY = "WORKBENCH_ORTHANC_BINARY"
    JUPYTER_BASE_URL = "WORKBENCH_JUPYTER_BASE_URL"
    IMAGE_CACHE_MAX_GB = "WORKBENCH_IMAGE_CACHE_MAX_GB"
    STORAGE_URI = "WORKBENCH_STORAGE_URI"
    BEDROCK_REGION = "WORKBENCH_BEDROCK_REGION"
    BEDROCK_RECORD_IDENTITY = "WORKBENCH_BEDROCK_RECORD_IDENTITY"
    BEDROCK_BATCH_ROLE_ARN = "WORKBENCH_BEDROCK_BATCH_ROLE_ARN"
    BEDROCK_BATCH_S3_URI = "WORKBENCH_BEDROCK_BATCH_S3_URI"
    OPENAI_BASE_URL = "WORKBENCH_OPENAI_BASE_URL"
    OPENAI_API_KEY = "WORKBENCH_OPENAI_API_KEY"
    REDACT = "WORKBENCH_REDACT"
    SHIFT_DATES = "WORKBENCH_SHIFT_DATES"
    USER = "WORKBENCH_USER"
    JUPYTERHUB_USER = "JUPYTERHUB_USER"
    AWS_REGION = "AWS_REGION"


def env_value(name: EnvVar) -> str | None:
    """The value of an environment variable of :class:`EnvVar` (``None`` when unset or empty)."""
    return os.environ.get(name.value) or None


def config_dir() -> Path:
    """Return the config folder (``$WORKBENCH_CONFIG_DIR`` or the user config folder)."""
    return Path(env_value(EnvVar.CONFIG_DIR) or platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    """Return the data folder (``$WORKBENCH_DATA_DIR`` or the user data folder)."""
    return Path(env_value(EnvVar.DATA_DIR) or platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    """Return the cache folder (``$WORKBENCH_CACHE_DIR`` or the user cache folder)."""
    return Path(env_value(EnvVar.CACHE_DIR) or platformdirs.user_cache_dir(APP_NAME))


def config_path() -> Path:
    """Return the path of ``config.toml``."""
    return config_dir() / CONFIG_FILE


_READ_LOCK = threading.Lock()
_READ: tuple[Path, tuple[int, int, int, int], dict[str, Any]] | None = None
"""The last file parsed: its path, (inode, mtime, ctime in ns, size) and contents."""
READS = {"count": 0}
"""How many times the file was parsed in this process (tests check that it is read once)."""


def _parsed() -> dict[str, Any]:
    """``config.toml`` parsed, from memory unless the file changed since it was last read (do not modify)."""
    global _READ
    path = config_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return {}
    with _READ_LOCK:
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)
        if _READ is not None and _READ[:2] == (path, version):
            return _READ[2]
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML ({exc}); fix or delete it") from None
        READS["count"] += 1
        _READ = (path, version, data)
        _report_unknown(path, data)
        return data


class ConfigWarning(UserWarning):
    """A setting in ``config.toml`` that the workbench does not know (a typo, or one from another version)."""


KNOWN_SETTINGS: dict[str, frozenset[str] | None] = {
    "orthanc": frozenset({"url", "username", "password", "password_file", "data_dir", "modalities"}),
    "bedrock": frozenset(
        {"region", "max_attempts", "read_timeout", "throttle_rounds", "throttle_wait",
         "record_caller_identity"}
    ),
    "bedrock_batch": frozenset(
        {"role_arn", "s3_uri", "timeout_hours", "min_records", "max_records", "poll_seconds",
         "max_poll_seconds"}
    ),
    "openai": frozenset({"base_url", "api_key", "api_key_file", "timeout", "max_attempts"}),
    "summary": frozenset({"redact", "user"}),
    "storage": frozenset({"uri"}),
    "cache": frozenset({"images_max_gb"}),
    "prompts": frozenset({"dir"}),
    "prices": None,  # [prices.<backend>."<model id>"]: any model id
}
"""Every ``[section] key`` the workbench reads (``None``: the section's keys are free, e.g. model ids)."""


def _report_unknown(path: Path, data: dict[str, Any]) -> None:
    """Warn (:class:`ConfigWarning`, and the log) about each section or key of ``path`` nobody reads."""
    for section, values in data.items():
        if section not in KNOWN_SETTINGS:
            message = f"{path}: unknown section [{section}]; known: {', '.join(sorted(KNOWN_SETTINGS))}"
        else:
            known = KNOWN_SETTINGS[section]
            if known is None or not isinstance(values, dict):
                continue
            unknown = sorted(set(values) - known)
            if not unknown:
                continue
            message = (
                f"{path}: unknown setting {', '.join(f'[{section}] {key}' for key in unknown)} is ignored; "
                f"[{section}] knows {', '.join(sorted(known))}"
            )
        warnings.warn(message, ConfigWarning, stacklevel=2)


def load_config() -> dict[str, Any]:
    """Read ``config.toml`` (a copy of it: changing the result changes nothing).

    Returns
    -------
    dict
        The parsed file, or an empty dict when there is none.

    Raises
    ------
    ConfigError
        If the file exists but is not valid TOML.
    """
    return copy.deepcopy(_parsed())


def table(section: str) -> dict[str, Any]:
    """The table ``[section]`` of ``config.toml`` (dotted when nested: ``"prices.bedrock"``), or ``{}``."""
    found: Any = _parsed()
    for part in section.split("."):
        found = found.get(part, {}) if isinstance(found, dict) else {}
    return dict(found) if isinstance(found, dict) else {}


def setting(section: str, key: str, *, env: EnvVar | None = None, default: Any = None) -> Any:
    """Look one setting up: the environment variable ``env`` first, then ``[section] key`` in the config file.

    Parameters
    ----------
    section, key
        Where the value sits in ``config.toml``; ``section`` may be dotted (``"prices.bedrock"``).
    env
        The environment variable that overrides the file.
    default
        Returned when neither is set.
    """
    if env is not None and env_value(env) is not None:
        return os.environ[env.value]
    return table(section).get(key, default)


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def update_config(section: str, values: dict[str, Any]) -> Path:
    """Merge ``values`` into ``[section]`` of ``config.toml``, written atomically.

    ``None`` values remove the key. Returns the path written.
    """
    path = config_path()
    data = load_config()
    section_table = data.setdefault(section, {})
    for key, value in values.items():
        if value is None:
            section_table.pop(key, None)
        else:
            section_table[key] = value
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, tomli_w.dumps(data).encode("utf-8"), mode=0o600)
    return path


def write_secret(path: Path, secret: str) -> None:
    """Write ``secret`` to ``path`` with mode 0600 (created so; never world-readable, even briefly)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, secret.encode("utf-8"), mode=0o600)


def read_secret(path: str | Path, *, fix: str | None = None) -> str:
    """Read a secret file (written by :func:`write_secret`, or by hand with mode 0600).

    Parameters
    ----------
    path
        The file; ``~`` is expanded.
    fix
        How to fix a missing file, for the error (default: the Orthanc password's fix).

    Raises
    ------
    ConfigError
        If the file is missing, or readable or writable by anyone but its owner (``chmod 600`` it).
    """
    p = Path(path).expanduser()
    try:
        mode = stat.S_IMODE(p.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"secret file {p} named in {config_path()} is open to other users (mode {mode:04o}); "
                f"run: chmod 600 {p}"
            )
        return p.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(
            f"secret file {p} named in {config_path()} does not exist; "
            + (fix or "run 'workbench orthanc start' again or set the password in the environment")
        ) from None


@dataclass(frozen=True)
class OrthancSettings:
    """Where the Orthanc server is and how to log in.

    Attributes
    ----------
    url : str or None
        Base URL of Orthanc's REST API, e.g. ``http://127.0.0.1:8042``.
    username, password : str or None
        HTTP basic-auth credentials.
    data_dir : str or None
        The managed local server's folder (``workbench orthanc start --data-dir``).
    modalities : tuple of str
        The DICOM peers allowed to C-STORE into the managed server, each ``NAME=AET@HOST:PORT``
        (``workbench orthanc start --modality``; :func:`orthanc_modalities`).
    """

    url: str | None
    username: str | None
    password: str | None
    data_dir: str | None = None
    modalities: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never show the password
        password = "***" if self.password else None
        return f"OrthancSettings(url={self.url!r}, username={self.username!r}, password={password})"


def orthanc_settings() -> OrthancSettings:
    """Resolve the Orthanc connection settings.

    ``WORKBENCH_ORTHANC_URL``, ``WORKBENCH_ORTHANC_USER`` and ``WORKBENCH_ORTHANC_PASSWORD`` win; otherwise
    the ``[orthanc]`` table of the config file (written by ``workbench orthanc start``), whose password lives
    in the 0600 file ``password_file``.
    """
    url = setting("orthanc", "url", env=EnvVar.ORTHANC_URL)
    username = setting("orthanc", "username", env=EnvVar.ORTHANC_USER)
    password = os.environ.get(EnvVar.ORTHANC_PASSWORD.value)
    if password is None:
        password = setting("orthanc", "password")
    if password is None:
        password_file = setting("orthanc", "password_file")
        if password_file:
            password = read_secret(password_file)
    return OrthancSettings(
        url=url, username=username, password=password, data_dir=setting("orthanc", "data_dir"),
        modalities=orthanc_modalities(),
    )


def orthanc_modalities() -> tuple[str, ...]:
    """``[orthanc] modalities``: the registered DICOM peers, ``NAME=AET@HOST:PORT`` each (no password read).

    Raises
    ------
    ConfigError
        If the setting is not a list of strings.
    """
    saved = setting("orthanc", "modalities", default=[])
    if not isinstance(saved, list) or not all(isinstance(text, str) for text in saved):
        raise ConfigError(
            f"[orthanc] modalities in {config_path()} must be a list of \"NAME=AET@HOST:PORT\" strings; "
            "fix it, or run 'workbench orthanc start --modality ...' again"
        )
    return tuple(saved)


@dataclass(frozen=True)
class BedrockSettings:
    """``[bedrock]``: how Amazon Bedrock is called.

    Attributes
    ----------
    region : str or None
        ``WORKBENCH_BEDROCK_REGION`` / ``[bedrock] region``, else ``AWS_REGION`` (``None``: botocore decides).
    max_attempts : int
        botocore's standard-mode attempts (default 6).
    read_timeout : float
        Seconds to wait for an answer (default 300).
    throttle_rounds : int
        Extra rounds after botocore gave up on throttling (default 2).
    throttle_wait : float
        Seconds before the first extra round (default 30).
    record_caller_identity : bool
        Record the AWS caller identity (``sts:GetCallerIdentity``, once per process) as a generation's
        ``aws_identity`` (default true; ``false`` / ``WORKBENCH_BEDROCK_RECORD_IDENTITY=false`` turns it off).
    """

    region: str | None = None
    max_attempts: int = 6
    read_timeout: float = 300.0
    throttle_rounds: int = 2
    throttle_wait: float = 30.0
    record_caller_identity: bool = True


def bedrock_settings() -> BedrockSettings:
    """Resolve :class:`BedrockSettings` (environment first, then ``[bedrock]``)."""
    values = table("bedrock")
    return BedrockSettings(
        region=setting("bedrock", "region", env=EnvVar.BEDROCK_REGION) or env_value(EnvVar.AWS_REGION),
        max_attempts=int(values.get("max_attempts") or 6),
        read_timeout=float(values.get("read_timeout") or 300),
        throttle_rounds=int(values.get("throttle_rounds", 2)),
        throttle_wait=float(values.get("throttle_wait", 30)),
        record_caller_identity=_flag(
            setting("bedrock", "record_caller_identity", env=EnvVar.BEDROCK_RECORD_IDENTITY, default=True)
        ),
    )


@dataclass(frozen=True)
class OpenAISettings:
    """``[openai]``: the OpenAI-compatible server on premises.

    Attributes
    ----------
    base_url, api_key : str or None
        ``WORKBENCH_OPENAI_BASE_URL`` / ``WORKBENCH_OPENAI_API_KEY``, else the table's keys; the key may
        instead be in a 0600 file named by ``[openai] api_key_file`` (read like ``[orthanc] password_file``).
    timeout : float
        Seconds per request (default 300).
    max_attempts : int
        Attempts on connection errors and 5xx (default 4).
    """

    base_url: str | None = None
    api_key: str | None = None
    timeout: float = 300.0
    max_attempts: int = 4

    def __repr__(self) -> str:  # never show the key
        key = "***" if self.api_key else None
        return f"OpenAISettings(base_url={self.base_url!r}, api_key={key}, timeout={self.timeout})"


def openai_settings() -> OpenAISettings:
    """Resolve :class:`OpenAISettings` (environment first, then ``[openai]``)."""
    values = table("openai")
    return OpenAISettings(
        base_url=setting("openai", "base_url", env=EnvVar.OPENAI_BASE_URL),
        api_key=_openai_api_key(),
        timeout=float(values.get("timeout") or 300),
        max_attempts=int(values.get("max_attempts") or 4),
    )


def _openai_api_key() -> str | None:
    """``WORKBENCH_OPENAI_API_KEY``, else ``[openai] api_key``, else the 0600 file ``[openai]
    api_key_file``."""
    key = setting("openai", "api_key", env=EnvVar.OPENAI_API_KEY)
    if key is None:
        key_file = setting("openai", "api_key_file")
        if key_file:
            key = read_secret(
                key_file, fix=f"write the key into it (chmod 600) or set {EnvVar.OPENAI_API_KEY.value}"
            )
    return key


@dataclass(frozen=True)
class SummarySettings:
    """``[summary]``: how generations are made and recorded.

    Attributes
    ----------
    redact : bool
        Replace identifiers before text leaves the machine (``WORKBENCH_REDACT``).
    shift_dates : bool
        With redaction, shift dates by the patient's offset (``WORKBENCH_SHIFT_DATES``; default on).
    user : str or None
        The user recorded with each generation (``WORKBENCH_USER``); ``None``: found out.
    """

    redact: bool = False
    shift_dates: bool = True
    user: str | None = None


def summary_settings() -> SummarySettings:
    """Resolve :class:`SummarySettings` (environment first, then ``[summary]``)."""
    user = setting("summary", "user", env=EnvVar.USER)
    return SummarySettings(
        redact=_flag(setting("summary", "redact", env=EnvVar.REDACT, default=False)),
        shift_dates=_flag(setting("summary", "shift_dates", env=EnvVar.SHIFT_DATES, default=True)),
        user=str(user) if user else None,
    )


@dataclass(frozen=True)
class StorageSettings:
    """``[storage]``: where runs, history and the response cache live (``None``: this machine)."""

    uri: str | None = None


def storage_settings() -> StorageSettings:
    """Resolve :class:`StorageSettings` (``WORKBENCH_STORAGE_URI``, then ``[storage] uri``)."""
    value = setting("storage", "uri", env=EnvVar.STORAGE_URI)
    text = str(value).strip() if value is not None else ""
    return StorageSettings(uri=text or None)


@dataclass(frozen=True)
class CacheSettings:
    """``[cache]``: the image caches' size limit as configured (checked by :mod:`workbench.imaging.cache`).

    Attributes
    ----------
    images_max_gb : str, float or None
        ``WORKBENCH_IMAGE_CACHE_MAX_GB`` / ``[cache] images_max_gb`` as given; ``None``: the default.
    """

    images_max_gb: str | float | None = None


def cache_settings() -> CacheSettings:
    """Resolve :class:`CacheSettings`."""
    return CacheSettings(images_max_gb=setting("cache", "images_max_gb", env=EnvVar.IMAGE_CACHE_MAX_GB))


@dataclass(frozen=True)
class PromptsSettings:
    """``[prompts]``: the folder of prompt versions (``None``: the repository's)."""

    dir: Path | None = None


def prompts_settings() -> PromptsSettings:
    """Resolve :class:`PromptsSettings` (``WORKBENCH_PROMPTS_DIR``, then ``[prompts] dir``)."""
    value = setting("prompts", "dir", env=EnvVar.PROMPTS_DIR)
    return PromptsSettings(dir=Path(value).expanduser() if value else None)


def batch_table() -> dict[str, Any]:
    """``[bedrock_batch]`` with ``role_arn`` and ``s3_uri`` from the environment when set (checked by
    :class:`workbench.experiments.batch_settings.BatchSettings`)."""
    values = table("bedrock_batch")
    for key, name in (("role_arn", EnvVar.BEDROCK_BATCH_ROLE_ARN), ("s3_uri", EnvVar.BEDROCK_BATCH_S3_URI)):
        if env_value(name) is not None:
            values[key] = env_value(name)
    return values


def prices_table(backend: str) -> dict[str, Any]:
    """``[prices.<backend>]``: model id -> price table, overriding the package's ``prices.toml``."""
    return table(f"prices.{backend}")
