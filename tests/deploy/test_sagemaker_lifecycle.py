"""deploy/sagemaker/on-start.sh, run outside SageMaker with stand-ins for `aws`, `sudo`, `install` and
`chown`.

The stand-ins answer as the AWS CLI does (list-tags, get-secret-value); the script itself is the real file.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
from pathlib import Path

from tests.deploy.conftest import ROOT

SCRIPT = ROOT / "deploy" / "sagemaker" / "on-start.sh"
ARN = "arn:aws:sagemaker:ap-northeast-1:123456789012:notebook-instance/workbench"
SECRET = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:OrthancUser-abc"


def _shim(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/bash\nset -euo pipefail\n" + body, encoding="utf-8")
    path.chmod(0o755)


def _run(tmp_path: Path, tags: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    bin_dir, env_dir, config = tmp_path / "bin", tmp_path / "env", tmp_path / "config"
    bin_dir.mkdir()
    (env_dir / "bin").mkdir(parents=True)
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
    toml = (config / "config.toml").read_text(encoding="utf-8")
    assert toml == f'[orthanc]\npassword_file = "{password}"\n'
    assert stat.S_IMODE((config / "config.toml").stat().st_mode) == 0o600
    assert not list(config.glob("*.tmp"))


def test_on_start_without_tags_only_registers_the_kernel(tmp_path: Path) -> None:
    result, record, config = _run(tmp_path, {})
    assert result.returncode == 0, result.stderr
    assert "--env" not in record.read_text(encoding="utf-8").split()
    assert not config.exists()
