from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from workbench.summary import identity
from workbench.summary.identity import aws_caller_arn, forget_aws_identity, local_user


@pytest.fixture(autouse=True)
def _no_platform(monkeypatch, tmp_path: Path) -> None:
    for name in ("JUPYTERHUB_USER", "WORKBENCH_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(identity, "SAGEMAKER_METADATA", tmp_path / "absent.json")


def test_logname_does_not_name_the_os_user(monkeypatch) -> None:
    monkeypatch.setenv("LOGNAME", "anyone")
    monkeypatch.setenv("USER", "anyone")
    monkeypatch.setenv("USERNAME", "anyone")
    user = local_user()
    assert user.source == "os" and user.name == pwd.getpwuid(os.geteuid()).pw_name != "anyone"


def test_jupyterhub_then_sagemaker_then_configured_then_os(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WORKBENCH_USER", "shared-name")
    assert local_user() == identity.LocalUser("shared-name", "configured")
    metadata = tmp_path / "resource-metadata.json"
    metadata.write_text(json.dumps({"DomainId": "d-1", "UserProfileName": "sato-profile"}), encoding="utf-8")
    monkeypatch.setattr(identity, "SAGEMAKER_METADATA", metadata)
    assert local_user() == identity.LocalUser("sato-profile", "sagemaker")
    monkeypatch.setenv("JUPYTERHUB_USER", "dr.sato")
    assert local_user() == identity.LocalUser("dr.sato", "jupyterhub")
    metadata.write_text("not json", encoding="utf-8")
    assert identity.sagemaker_user_profile(metadata) is None


def test_the_aws_identity_is_asked_once_per_process() -> None:
    forget_aws_identity()
    sts = boto3.client("sts", region_name="ap-northeast-1", aws_access_key_id="t", aws_secret_access_key="t")
    arn = "arn:aws:sts::123456789012:assumed-role/Researcher/sato"
    try:
        with Stubber(sts) as stub:
            stub.add_response("get_caller_identity", {"UserId": "A:s", "Account": "123456789012", "Arn": arn})
            assert aws_caller_arn(sts) == arn
            assert aws_caller_arn(sts) == arn  # the stub had a single answer
            stub.assert_no_pending_responses()
        forget_aws_identity()
        with Stubber(sts) as stub:
            stub.add_client_error("get_caller_identity", service_error_code="ExpiredToken")
            assert aws_caller_arn(sts) is None
            assert aws_caller_arn(sts) is None  # a failure is not asked again either
    finally:
        forget_aws_identity()
