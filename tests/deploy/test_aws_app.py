"""The CDK app (deploy/aws): resources and properties, cdk-nag's packs, cfn-lint, and bad parameters."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import APP_DIR, CERTIFICATE, CONTEXT, ROOT

pytestmark = pytest.mark.slow


def _template(assembly: Any, name: str) -> dict[str, Any]:
    return assembly.get_stack_by_name(name).template  # type: ignore[no-any-return]


def _resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r.get("Properties", {}) for r in template["Resources"].values() if r["Type"] == kind]


def _nag_errors(assembly: Any) -> list[str]:
    errors = []
    for stack in assembly.stacks:
        for message in stack.messages:
            if "ERROR" in str(message.level).upper():
                errors.append(f"{stack.stack_name} {message.id} {str(message.entry.data)[:120]}")
    return errors


def test_checks_pass_with_no_unsuppressed_error(default_app: tuple[Any, Any]) -> None:
    _, assembly = default_app
    assert _nag_errors(assembly) == []
    reports = sorted(p.name for p in Path(assembly.directory).glob("*-NagReport.csv"))
    assert reports == [
        f"{pack}--{stack}-NagReport.csv"
        for pack in ("AwsSolutions", "HIPAA.Security")
        for stack in ("WorkbenchArchive", "WorkbenchResearch")
    ]


def test_every_suppression_carries_a_reason(default_app: tuple[Any, Any]) -> None:
    _, assembly = default_app
    found = 0
    for stack in assembly.stacks:
        for resource in stack.template["Resources"].values():
            for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                found += 1
                assert len(rule["reason"]) >= 20, rule
    assert found >= 10


def test_archive_stack(default_app: tuple[Any, Any]) -> None:
    from aws_cdk.assertions import Match, Template

    _, assembly = default_app
    archive = Template.from_json(_template(assembly, "WorkbenchArchive"))
    archive.has_resource_properties("AWS::ECS::Service", {"LaunchType": "FARGATE", "DesiredCount": 2})
    archive.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internal"})
    archive.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {"Protocol": "HTTPS", "Port": 443, "Certificates": [{"CertificateArn": CERTIFICATE}]},
    )
    archive.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "StorageEncrypted": True,
            "DeletionProtection": True,
            "PubliclyAccessible": False,
            "MultiAZ": False,
            "BackupRetentionPeriod": Match.any_value(),
        },
    )
    database = _resources(_template(assembly, "WorkbenchArchive"), "AWS::RDS::DBInstance")[0]
    assert database["BackupRetentionPeriod"] >= 7
    archive.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": Match.any_value(),
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
        },
    )
    # Every bucket refuses plain HTTP.
    template = _template(assembly, "WorkbenchArchive")
    policies = _resources(template, "AWS::S3::BucketPolicy")
    assert len(policies) == len(_resources(template, "AWS::S3::Bucket"))
    for policy in policies:
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["PolicyDocument"]["Statement"]
        )
    archive.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 365})
    for group in _resources(template, "AWS::Logs::LogGroup"):
        assert group["RetentionInDays"] == 365 and "KmsKeyId" in group


def test_orthanc_configuration_and_secrets(default_app: tuple[Any, Any]) -> None:
    _, assembly = default_app
    template = _template(assembly, "WorkbenchArchive")
    task = _resources(template, "AWS::ECS::TaskDefinition")[0]
    container = task["ContainerDefinitions"][0]
    assert container["Image"] == "orthancteam/orthanc:24.12.1"
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["ORTHANC__POSTGRESQL__ENABLE_INDEX"] == "true"
    assert environment["ORTHANC__POSTGRESQL__LOCK"] == "false"
    assert environment["ORTHANC__AUTHENTICATION_ENABLED"] == "true"
    assert environment["DICOM_WEB_PLUGIN_ENABLED"] == "true"
    assert environment["ORTHANC_WEB_VIEWER_PLUGIN_ENABLED"] == "true"  # the study browser's viewer link
    assert "Ref" in json.dumps(environment["ORTHANC__AWS_S3_STORAGE__BUCKET_NAME"])
    secrets = {s["Name"] for s in container["Secrets"]}
    assert secrets == {"ORTHANC__REGISTERED_USERS", "ORTHANC__POSTGRESQL__PASSWORD"}
    # No password anywhere in either template: only references to Secrets Manager.
    for stack in assembly.stacks:
        text = json.dumps(stack.template).lower()
        assert 'password": "' not in text
        assert "masteruserpassword" not in text or "resolve:secretsmanager" in text


def test_only_the_notebooks_reach_orthanc(default_app: tuple[Any, Any]) -> None:
    _, assembly = default_app
    template = _template(assembly, "WorkbenchArchive")
    balancer = _resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")[0]
    (group_ref,) = balancer["SecurityGroups"]
    group_id = group_ref["Fn::GetAtt"][0]
    ingress = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress"
        and r["Properties"]["GroupId"]["Fn::GetAtt"][0] == group_id
    ]
    inline = template["Resources"][group_id]["Properties"].get("SecurityGroupIngress", [])
    assert inline == []
    assert len(ingress) == 1
    source = ingress[0]["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0]
    assert source.startswith("ArchiveClients")
    notebook = _resources(_template(assembly, "WorkbenchResearch"), "AWS::SageMaker::NotebookInstance")[0]
    assert "ArchiveClients" in json.dumps(notebook["SecurityGroupIds"])


def test_research_stack(default_app: tuple[Any, Any]) -> None:
    _, assembly = default_app
    template = _template(assembly, "WorkbenchResearch")
    notebook = _resources(template, "AWS::SageMaker::NotebookInstance")[0]
    assert notebook["DirectInternetAccess"] == "Disabled"
    assert notebook["RootAccess"] == "Disabled"
    assert "KmsKeyId" in notebook and "SubnetId" in notebook
    tags = {t["Key"]: t["Value"] for t in notebook["Tags"]}
    assert {
        "workbench:orthanc-url",
        "workbench:orthanc-user",
        "workbench:orthanc-secret",
        "workbench:storage-uri",
    } <= set(tags)
    statements = [
        s for p in _resources(template, "AWS::IAM::ManagedPolicy") for s in p["PolicyDocument"]["Statement"]
    ]
    actions = {
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {
        "bedrock:InvokeModel",
        "bedrock:CreateModelInvocationJob",
        "iam:PassRole",
        "secretsmanager:GetSecretValue",
        "s3:GetObject",
        "s3:PutObject",
    } <= actions
    invoke = next(s for s in statements if "bedrock:InvokeModel" in s["Action"])
    text = json.dumps(invoke["Resource"])
    assert "inference-profile/jp.anthropic.claude-sonnet-4-5-20250929-v1:0" in text
    assert "foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0" in text
    assert "foundation-model/anthropic.claude-3-haiku-20240307-v1:0" in text
    assert '*"' not in text.replace("bedrock:*::", "")  # no model wildcard
    roles = {
        name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"
    }
    batch = next(p for name, p in roles.items() if name.startswith("BedrockBatchRole"))
    (trust,) = batch["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    batch_policy = next(
        p
        for p in _resources(template, "AWS::IAM::ManagedPolicy")
        if "batch prefix" in p.get("Description", "")
    )
    resources = json.dumps([s["Resource"] for s in batch_policy["PolicyDocument"]["Statement"]])
    assert "/workbench/batch/*" in resources and '/workbench/*"' not in resources


def test_lifecycle_scripts_are_the_repository_files(default_app: tuple[Any, Any]) -> None:
    _, assembly = default_app
    template = _template(assembly, "WorkbenchResearch")
    (config,) = _resources(template, "AWS::SageMaker::NotebookInstanceLifecycleConfig")
    for hook, name in (("OnCreate", "on-create.sh"), ("OnStart", "on-start.sh")):
        content = config[hook][0]["Content"]["Fn::Base64"]
        assert content.encode("utf-8") == (ROOT / "deploy" / "sagemaker" / name).read_bytes()
        assert base64.b64encode(content.encode()) == base64.b64encode(
            (ROOT / "deploy" / "sagemaker" / name).read_bytes()
        )


def test_cfn_lint_reports_no_error(default_app: tuple[Any, Any]) -> None:
    _, assembly = default_app
    templates = sorted(str(p) for p in Path(assembly.directory).glob("*.template.json"))
    assert len(templates) == 2
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), "--format", "parseable", *templates], capture_output=True, text=True, check=False
    )
    errors = [line for line in result.stdout.splitlines() if re.search(r":E\d{4}:", line)]
    assert errors == [], result.stdout
    assert result.returncode in (0, 4), result.stdout + result.stderr  # 4: warnings only


def test_options_stay_clean(synth: Callable[..., Any]) -> None:
    _, assembly = synth(multiAz="true", studio="true", orthancTasks=3)
    assert _nag_errors(assembly) == []
    template = _template(assembly, "WorkbenchArchive")
    assert _resources(template, "AWS::RDS::DBInstance")[0]["MultiAZ"] is True
    assert _resources(template, "AWS::ECS::Service")[0]["DesiredCount"] == 3
    domain = _resources(_template(assembly, "WorkbenchResearch"), "AWS::SageMaker::Domain")[0]
    assert domain["AppNetworkAccessType"] == "VpcOnly"


def test_checks_can_fail(synth: Callable[..., Any]) -> None:
    """Weaken one security property at a time: cdk-nag must report it."""

    def weaken(app: Any) -> None:
        archive = app.node.find_child("WorkbenchArchive")
        bucket = archive.node.find_child("DicomFiles").node.default_child
        bucket.public_access_block_configuration = None
        database = archive.node.find_child("Index").node.default_child
        database.storage_encrypted = False

    _, assembly = synth(mutate=weaken)
    errors = "\n".join(_nag_errors(assembly))
    assert "/DicomFiles/Resource HIPAA.Security-S3BucketPublicReadProhibited" in errors
    assert "/Index/Resource HIPAA.Security-RDSStorageEncrypted" in errors


BAD_CONTEXT = [
    ({"certificateArn": ""}, "certificateArn is missing"),
    ({"certificateArn": "not-an-arn"}, "is not an ACM certificate ARN"),
    (
        {"certificateArn": CERTIFICATE.replace("ap-northeast-1", "us-east-1")},
        "a load balancer needs a certificate",
    ),
    ({"bedrockModelIds": ""}, "bedrockModelIds is missing"),
    ({"bedrockModelIds": "bad model"}, "is not a Bedrock model id"),
    ({"orthancTag": "latest"}, "orthancTag 'latest' is refused"),
    ({"orthancImage": "orthancteam/orthanc:latest"}, "the tag goes in orthancTag"),
    ({"orthancTasks": "1"}, "at least 2 tasks"),
    ({"orthancTasks": "two"}, "is not a whole number"),
    ({"multiAz": "maybe"}, "expected true or false"),
    ({"logRetentionDays": "10"}, "is not a CloudWatch retention period"),
    ({"account": "12"}, "12-digit"),
]


@pytest.mark.parametrize(("change", "message"), BAD_CONTEXT)
def test_bad_parameters_stop_with_one_line(change: dict[str, str], message: str) -> None:
    from workbench_aws.settings import DeploySettings, SettingsError

    context = {**CONTEXT, **change}
    with pytest.raises(SettingsError, match=message):
        DeploySettings.from_context(context.get)


def test_app_command_prints_one_line_for_a_missing_parameter(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({"bedrockModelIds": "anthropic.claude-v2"}),
        "CDK_OUTDIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and result.stderr.startswith(
        "workbench: error: certificateArn is missing"
    )
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))
