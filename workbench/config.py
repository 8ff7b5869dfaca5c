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
"""

from __future__ import annotations

import logging
import os
import tomllib
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


def config_dir() -> Path:
    """Return the config folder (``$WORKBENCH_CONFIG_DIR`` or the user config folder)."""
    return Path(os.environ.get("WORKBENCH_CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    """Return the data folder (``$WORKBENCH_DATA_DIR`` or the user data folder)."""
    return Path(os.environ.get("WORKBENCH_DATA_DIR") or platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    """Return the cache folder (``$WORKBENCH_CACHE_DIR`` or the user cache folder)."""
    return Path(os.environ.get("WORKBENCH_CACHE_DIR") or platformdirs.user_cache_dir(APP_NAME))


def config_path() -> Path:
    """Return the path of ``config.toml``."""
    return config_dir() / CONFIG_FILE


def load_config() -> dict[str, Any]:
    """Read ``config.toml``.

    Returns
    -------
    dict
        The parsed file, or an empty dict when there is none.

    Raises
    ------
    ConfigError
        If the file exists but is not valid TOML.
    """
    path = config_path()
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix or delete it") from None


def setting(section: str, key: str, *, env: str | None = None, default: Any = None) -> Any:
    """Look one setting up: the environment variable ``env`` first, then ``[section] key`` in the config file.

    Parameters
    ----------
    section, key
        Where the value sits in ``config.toml``; ``section`` may be dotted (``"prices.bedrock"``).
    env
        Name of an environment variable that overrides the file, e.g. ``"WORKBENCH_ORTHANC_URL"``.
    default
        Returned when neither is set.
    """
    if env and os.environ.get(env):
        return os.environ[env]
    table: Any = load_config()
    for part in section.split("."):
        table = table.get(part, {}) if isinstance(table, dict) else {}
    if isinstance(table, dict) and key in table:
        return table[key]
    return default


def update_config(section: str, values: dict[str, Any]) -> Path:
    """Merge ``values`` into ``[section]`` of ``config.toml``, written atomically.

    ``None`` values remove the key. Returns the path written.
    """
    path = config_path()
    data = load_config()
    table = data.setdefault(section, {})
    for key, value in values.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, tomli_w.dumps(data).encode("utf-8"), mode=0o600)
    return path


def write_secret(path: Path, secret: str) -> None:
    """Write ``secret`` to ``path`` with mode 0600 (created so; never world-readable, even briefly)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, secret.encode("utf-8"), mode=0o600)


def read_secret(path: str | Path) -> str:
    """Read a secret file written by :func:`write_secret`.

    Raises
    ------
    ConfigError
        If the file is missing.
    """
    p = Path(path).expanduser()
    try:
        return p.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(
            f"secret file {p} named in {config_path()} does not exist; run 'workbench orthanc start' again "
            "or set the password in the environment"
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
    """

    url: str | None
    username: str | None
    password: str | None

    def __repr__(self) -> str:  # never show the password
        password = "***" if self.password else None
        return f"OrthancSettings(url={self.url!r}, username={self.username!r}, password={password})"


def orthanc_settings() -> OrthancSettings:
    """Resolve the Orthanc connection settings.

    ``WORKBENCH_ORTHANC_URL``, ``WORKBENCH_ORTHANC_USER`` and ``WORKBENCH_ORTHANC_PASSWORD`` win; otherwise
    the ``[orthanc]`` table of the config file (written by ``workbench orthanc start``), whose password lives
    in the 0600 file ``password_file``.
    """
    url = setting("orthanc", "url", env="WORKBENCH_ORTHANC_URL")
    username = setting("orthanc", "username", env="WORKBENCH_ORTHANC_USER")
    password = os.environ.get("WORKBENCH_ORTHANC_PASSWORD")
    if password is None:
        password = setting("orthanc", "password")
    if password is None:
        password_file = setting("orthanc", "password_file")
        if password_file:
            password = read_secret(password_file)
    return OrthancSettings(url=url, username=username, password=password)
