"""Settings: environment first, then config.toml; secrets in 0600 files."""

from __future__ import annotations

import stat

import pytest

from workbench import config
from workbench.errors import ConfigError


def test_environment_wins_over_file(monkeypatch: pytest.MonkeyPatch) -> None:
    config.update_config("orthanc", {"url": "http://file:1", "username": "fromfile"})
    assert config.orthanc_settings().url == "http://file:1"
    monkeypatch.setenv("WORKBENCH_ORTHANC_URL", "http://env:2")
    settings = config.orthanc_settings()
    assert settings.url == "http://env:2"
    assert settings.username == "fromfile"


def test_password_from_secret_file_is_0600_and_not_in_repr() -> None:
    secret = config.config_dir() / "pw"
    config.write_secret(secret, "s3cret")
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    config.update_config("orthanc", {"url": "http://x:1", "password_file": str(secret)})
    settings = config.orthanc_settings()
    assert settings.password == "s3cret"
    assert "s3cret" not in repr(settings)
    assert stat.S_IMODE(config.config_path().stat().st_mode) == 0o600


def test_update_merges_and_none_removes() -> None:
    config.update_config("a", {"x": 1, "y": 2})
    config.update_config("a", {"y": None, "z": "3"})
    assert config.load_config() == {"a": {"x": 1, "z": "3"}}
    assert config.setting("a", "z") == "3"
    assert config.setting("a", "missing", default=7) == 7
    assert config.setting("nested.table", "k", default="d") == "d"


def test_invalid_toml_names_the_file() -> None:
    config.config_path().parent.mkdir(parents=True, exist_ok=True)
    config.config_path().write_text("[orthanc\nurl=", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config\.toml is not valid TOML"):
        config.load_config()


def test_missing_secret_file_says_how_to_fix() -> None:
    config.update_config("orthanc", {"url": "http://x:1", "password_file": "/nonexistent/pw"})
    with pytest.raises(ConfigError, match="workbench orthanc start"):
        config.orthanc_settings()
