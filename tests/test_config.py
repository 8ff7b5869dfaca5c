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


def test_registered_modalities_are_typed_and_need_no_password() -> None:
    assert config.orthanc_modalities() == () and config.orthanc_settings().modalities == ()
    modality = "CT1=CTSCANNER@10.0.0.5:104"
    config.update_config("orthanc", {"modalities": [modality], "password_file": "/nonexistent/pw"})
    assert config.orthanc_modalities() == (modality,)  # 'orthanc start' reads them before the password exists
    config.update_config("orthanc", {"password_file": None, "url": "http://x:1"})
    assert config.orthanc_settings().modalities == (modality,)
    config.update_config("orthanc", {"modalities": "CT1=CTSCANNER@10.0.0.5:104"})
    with pytest.raises(ConfigError, match=r"\[orthanc\] modalities in .*config\.toml must be a list"):
        config.orthanc_modalities()


def test_the_file_is_read_once_and_again_when_it_changes() -> None:
    config.update_config("bedrock", {"region": "ap-northeast-1", "max_attempts": 3})
    before = config.READS["count"]
    for _ in range(5):  # one generation asks for several areas' settings
        assert config.bedrock_settings().region == "ap-northeast-1"
        assert config.summary_settings().redact is False and config.openai_settings().base_url is None
    assert config.READS["count"] == before + 1
    config.update_config("bedrock", {"max_attempts": 9})
    assert config.bedrock_settings().max_attempts == 9 and config.READS["count"] == before + 2
    config.load_config()["bedrock"]["max_attempts"] = 1  # a copy: the settings do not change
    assert config.bedrock_settings().max_attempts == 9


def test_typed_settings_convert_their_values(monkeypatch: pytest.MonkeyPatch) -> None:
    config.update_config("summary", {"redact": "yes", "user": "dr.sato"})
    config.update_config("openai", {"base_url": "http://127.0.0.1:8000/v1", "api_key": "k3y", "timeout": "3"})
    assert config.summary_settings() == config.SummarySettings(redact=True, user="dr.sato")
    openai = config.openai_settings()
    assert openai.timeout == 3.0 and openai.max_attempts == 4 and "k3y" not in repr(openai)
    assert config.bedrock_settings().record_caller_identity  # on unless turned off (#13)
    config.update_config("bedrock", {"record_caller_identity": False})
    assert not config.bedrock_settings().record_caller_identity
    monkeypatch.setenv("WORKBENCH_REDACT", "0")
    monkeypatch.setenv("WORKBENCH_BEDROCK_RECORD_IDENTITY", "true")
    assert config.summary_settings().redact is False and config.bedrock_settings().record_caller_identity


def test_every_environment_variable_is_listed_in_one_place() -> None:
    """A ``WORKBENCH_*`` name anywhere in the package (code, messages, docs) is a member of ``EnvVar``;
    only config.py spells one as a bare string."""
    import ast
    import re
    from pathlib import Path

    package = Path(config.__file__).parent
    listed = {member.value for member in config.EnvVar}
    mentioned: set[str] = set()
    bare: list[str] = []
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        mentioned |= set(re.findall(r"\bWORKBENCH_[A-Z0-9_]*[A-Z0-9]\b", text))
        if path.name != "config.py":
            bare += [f"{path.name}: {node.value}" for node in ast.walk(ast.parse(text))
                     if isinstance(node, ast.Constant) and isinstance(node.value, str)
                     and re.fullmatch(r"WORKBENCH_[A-Z0-9_]+", node.value)]
    assert mentioned - listed == set()
    assert bare == []


def test_openai_api_key_file_is_read_like_the_orthanc_password_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKBENCH_OPENAI_API_KEY", raising=False)
    key_file = config.config_dir() / "openai-key"
    config.write_secret(key_file, "sk-local\n")
    config.update_config("openai", {"base_url": "http://127.0.0.1:8000/v1", "api_key_file": str(key_file)})
    settings = config.openai_settings()
    assert settings.api_key == "sk-local"
    assert "sk-local" not in repr(settings)
    monkeypatch.setenv("WORKBENCH_OPENAI_API_KEY", "from-env")
    assert config.openai_settings().api_key == "from-env"


def test_an_openai_key_file_open_to_others_or_missing_is_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKBENCH_OPENAI_API_KEY", raising=False)
    key_file = config.config_dir() / "openai-key"
    config.write_secret(key_file, "sk-local")
    key_file.chmod(0o644)
    config.update_config("openai", {"api_key_file": str(key_file)})
    with pytest.raises(ConfigError, match=r"open to other users \(mode 0644\); run: chmod 600"):
        config.openai_settings()
    config.update_config("openai", {"api_key_file": str(key_file) + ".missing"})
    with pytest.raises(ConfigError, match="does not exist; write the key into it"):
        config.openai_settings()


def test_an_unknown_setting_is_reported_with_its_key_and_file() -> None:
    config.update_config("openai", {"base_url": "http://x/v1", "api_key_fle": "/tmp/k"})
    config.update_config("orthanc", {"url": "http://x:1"})
    with pytest.warns(config.ConfigWarning) as caught:
        config.openai_settings()
    (message,) = [str(w.message) for w in caught]
    assert str(config.config_path()) in message
    assert "[openai] api_key_fle" in message
    assert "api_key_file" in message  # the known keys, so the typo is visible


def test_an_unknown_section_is_reported_and_known_ones_are_quiet() -> None:
    import warnings

    config.update_config("orthanc", {"url": "http://x:1", "username": "u"})
    config.update_config("prices", {"bedrock": {"my-model": {"input": 1.0, "output": 2.0}}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config.orthanc_settings()
    config.update_config("ortanc", {"url": "http://x:1"})
    with pytest.warns(config.ConfigWarning, match=r"unknown section \[ortanc\]"):
        config.orthanc_settings()
