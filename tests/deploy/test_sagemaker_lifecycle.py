"""deploy/sagemaker/on-start.sh, run outside SageMaker with stand-ins for `aws`, `sudo`, `install`, `chown`,
`systemctl` and the Jupyter server environment's `python` and `jupyter`.

The stand-ins answer as the AWS CLI does (list-tags, get-secret-value) and record what they were asked to do;
the script itself is the real file.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import tomllib
from pathlib import Path

from tests.deploy.conftest import ROOT

SCRIPT = ROOT / "deploy" / "sagemaker" / "on-start.sh"
ARN = "arn:aws:sagemaker:ap-northeast-1:123456789012:notebook-instance/workbench"
SECRET = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:OrthancUser-abc"


def _shim(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/bash\nset -euo pipefail\n" + body, encoding="utf-8")
    path.chmod(0o755)


def _run(
    tmp_path: Path, tags: dict[str, str], *, server_python: str = "3.11"
) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    bin_dir, env_dir, config = tmp_path / "bin", tmp_path / "env", tmp_path / "config"
    server_env, repo = tmp_path / "JupyterSystemEnv", tmp_path / "workbench"
    bin_dir.mkdir()
    (env_dir / "bin").mkdir(parents=True)
    (server_env / "bin").mkdir(parents=True)
    repo.mkdir()
    (repo / "pyproject.toml").write_text("[project]\nname = 'workbench'\n", encoding="utf-8")
    calls = tmp_path / "calls"  # every stand-in of the viewer setup appends its command line here
    log = f'echo "$(basename "$0") $*" >> {shlex.quote(str(calls))}\n'
    old_enough = "0" if server_python >= "3.11" else "1"
    _shim(server_env / "bin", "python", log + f'[ "$1" = -c ] && exit {old_enough}; exit 0\n')
    _shim(server_env / "bin", "jupyter", log)
    _shim(bin_dir, "systemctl", log)
    metadata = tmp_path / "resource-metadata.json"
    metadata.write_text(json.dumps({"ResourceArn": ARN}), encoding="utf-8")
    listing = json.dumps({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]})
    _shim(
        bin_dir,
        "aws",
        f"""
case "$1 $2" in
  "sagemaker list-tags") [ "$4" = {shlex.quote(ARN)} ] && echo {shlex.quote(listing)} ;;
  "secretsmanager get-secret-value") [ "$4" = {shlex.quote(SECRET)} ] && echo '{{"workbench":"s3cret-pw"}}';;
  *) exit 3 ;;
esac
""",
    )
    _shim(bin_dir, "sudo", 'shift 3; exec "$@"\n')  # sudo -u ec2-user -i CMD...
    _shim(bin_dir, "chown", "exit 0\n")
    _shim(
        bin_dir,
        "install",
        'args=(); while [ $# -gt 0 ]; do case "$1" in -o|-g) shift 2;; *) args+=("$1"); '
        'shift;; esac; done; exec /usr/bin/install "${args[@]}"\n',
    )
    record = tmp_path / "kernel-args"
    _shim(env_dir / "bin", "python", f'printf "%s\\n" "$@" > {shlex.quote(str(record))}\n')
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "WORKBENCH_ENV_DIR": str(env_dir),
        "WORKBENCH_CONFIG_DIR": str(config),
        "SAGEMAKER_RESOURCE_METADATA": str(metadata),
        "WORKBENCH_SERVER_ENV": str(server_env),
        "WORKBENCH_REPO_DIR": str(repo),
    }
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    return result, record, config


def test_on_start_configures_the_kernel_from_the_instance_tags(tmp_path: Path) -> None:
    result, record, config = _run(
        tmp_path,
        {
            "workbench:orthanc-url": "https://internal-orthanc.example",
            "workbench:orthanc-user": "workbench",
            "workbench:orthanc-secret": SECRET,
            "workbench:storage-uri": "s3://team/workbench",
        },
    )
    assert result.returncode == 0, result.stderr
    args = record.read_text(encoding="utf-8").splitlines()
    assert args[:5] == ["-m", "ipykernel", "install", "--user", "--name"]
    pairs = {args[i + 1]: args[i + 2] for i, a in enumerate(args) if a == "--env"}
    assert pairs == {
        "WORKBENCH_ORTHANC_URL": "https://internal-orthanc.example",
        "WORKBENCH_ORTHANC_USER": "workbench",
        "WORKBENCH_STORAGE_URI": "s3://team/workbench",
    }
    assert "s3cret-pw" not in record.read_text(encoding="utf-8")
    password = config / "orthanc-password"
    assert password.read_text(encoding="utf-8") == "s3cret-pw"
    assert stat.S_IMODE(password.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.stat().st_mode) == 0o700
    toml = tomllib.loads((config / "config.toml").read_text(encoding="utf-8"))
    assert toml == {
        "orthanc": {
            "url": "https://internal-orthanc.example",
            "username": "workbench",
            "password_file": str(password),
        }
    }
    assert stat.S_IMODE((config / "config.toml").stat().st_mode) == 0o600
    assert not list(config.glob("*.tmp"))
    # the viewer: proxy + workbench (no deps) in the Jupyter server's environment, enabled, server restarted
    calls = (tmp_path / "calls").read_text(encoding="utf-8").splitlines()
    server = tmp_path / "JupyterSystemEnv"
    assert calls[1:] == [
        "python -m pip install --quiet jupyter-server-proxy>=4.1 platformdirs>=4 tomli-w>=1.0",
        f"python -m pip install --quiet --no-deps {tmp_path / 'workbench'}",
        "jupyter server extension enable --sys-prefix workbench.jupyter.proxy",
        "systemctl restart jupyter-server",
    ]
    assert calls[0].startswith("python -c ") and str(server) not in record.read_text(encoding="utf-8")


def test_the_config_written_for_the_proxy_is_read_by_the_workbench(tmp_path: Path, monkeypatch) -> None:
    result, _, config = _run(
        tmp_path,
        {
            "workbench:orthanc-url": "https://internal-orthanc.example:8042",
            "workbench:orthanc-user": "workbench",
            "workbench:orthanc-secret": SECRET,
        },
    )
    assert result.returncode == 0, result.stderr
    from workbench import config as workbench_config

    for name in ("WORKBENCH_ORTHANC_URL", "WORKBENCH_ORTHANC_USER", "WORKBENCH_ORTHANC_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORKBENCH_CONFIG_DIR", str(config))
    settings = workbench_config.orthanc_settings()
    assert (settings.url, settings.username, settings.password) == (
        "https://internal-orthanc.example:8042",
        "workbench",
        "s3cret-pw",
    )


def test_an_old_jupyter_server_environment_skips_the_viewer_but_starts(tmp_path: Path) -> None:
    result, record, config = _run(
        tmp_path, {"workbench:orthanc-url": "https://internal-orthanc.example"}, server_python="3.10"
    )
    assert result.returncode == 0, result.stderr
    assert "needs Python >= 3.11" in result.stdout and "viewer: not set up" in result.stdout
    calls = (tmp_path / "calls").read_text(encoding="utf-8")
    assert "pip" not in calls and "systemctl" not in calls
    assert "WORKBENCH_ORTHANC_URL" in record.read_text(encoding="utf-8")  # the kernel is still registered
    toml = tomllib.loads((config / "config.toml").read_text(encoding="utf-8"))
    assert toml == {"orthanc": {"url": "https://internal-orthanc.example"}}


def test_on_start_without_tags_only_registers_the_kernel(tmp_path: Path) -> None:
    result, record, config = _run(tmp_path, {})
    assert result.returncode == 0, result.stderr
    assert "--env" not in record.read_text(encoding="utf-8").split()
    assert not config.exists()
    assert not (tmp_path / "calls").exists()  # no Orthanc: the Jupyter server is left alone
