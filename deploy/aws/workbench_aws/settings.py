"""The deployment's parameters: read from CDK context, checked before anything is built."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:_-]*$")
IMAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:\d+)?(/[a-z0-9._-]+)*$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9_.-]+)*$")
RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
UNPINNED_TAGS = ("latest", "stable", "master", "main", "edge", "nightly")


class SettingsError(ValueError):
    """A deployment parameter is missing or wrong; the message names it and how to give it."""


@dataclass(frozen=True)
class DeploySettings:
    """Everything the app needs that differs between teams.

    Parameters
    ----------
    certificate_arn
        ACM certificate for the internal load balancer's HTTPS listener (``-c certificateArn=...``).
    bedrock_model_ids
        Bedrock model or inference-profile ids the notebooks may call (``-c bedrockModelIds=a,b``).
    orthanc_image, orthanc_tag
        Container image of Orthanc with the PostgreSQL, S3 and DICOMweb plugins; the tag is pinned.
    orthanc_tasks
        Fargate tasks behind the load balancer (at least 2).
    multi_az
        RDS Multi-AZ standby.
    studio
        A SageMaker Studio domain as well as the notebook instance.
    notebook_instance_type, database_instance_type
        Instance sizes.
    storage_prefix
        Key prefix in the team bucket that ``[storage] uri`` points at.
    log_retention_days
        CloudWatch Logs retention.
    region, account
        Where to deploy (``-c region=...``, default Tokyo as in the seed; the account defaults to the CLI's).
    """

    certificate_arn: str
    bedrock_model_ids: tuple[str, ...]
    orthanc_image: str = "orthancteam/orthanc"
    orthanc_tag: str = "24.12.1"
    orthanc_tasks: int = 2
    multi_az: bool = False
    studio: bool = False
    notebook_instance_type: str = "ml.t3.large"
    database_instance_type: str = "t4g.medium"
    storage_prefix: str = "workbench"
    log_retention_days: int = 365
    region: str = "ap-northeast-1"
    account: str | None = None

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> DeploySettings:
        """Read the parameters from CDK context (``node.try_get_context``) and check them.

        Raises
        ------
        SettingsError
            For the first parameter that is missing or wrong.
        """
        certificate = _text(get("certificateArn"))
        if not certificate:
            raise SettingsError(
                "certificateArn is missing: give the ACM certificate of the archive's HTTPS listener, "
                "e.g. cdk synth -c certificateArn=arn:aws:acm:ap-northeast-1:123456789012:certificate/ID"
            )
        if not CERTIFICATE_ARN.match(certificate):
            raise SettingsError(
                f"certificateArn {certificate!r} is not an ACM certificate ARN "
                "(arn:aws:acm:REGION:ACCOUNT:certificate/ID)"
            )
        region = _text(get("region")) or cls.region
        if not REGION.match(region):
            raise SettingsError(f"region {region!r} is not an AWS region name (e.g. ap-northeast-1)")
        if certificate.split(":")[3] != region:
            raise SettingsError(
                f"certificateArn is in {certificate.split(':')[3]}, the stacks in {region}: "
                "a load balancer needs a certificate of its own region"
            )
        account = _text(get("account")) or None
        if account is not None and not re.fullmatch(r"\d{12}", account):
            raise SettingsError(f"account {account!r} is not a 12-digit AWS account id")
        raw_models = get("bedrockModelIds")
        models = tuple(
            m.strip()
            for m in (raw_models if isinstance(raw_models, list) else _text(raw_models).split(","))
            if str(m).strip()
        )
        if not models:
            raise SettingsError(
                "bedrockModelIds is missing: give the Bedrock model ids the notebooks may call, "
                "e.g. -c bedrockModelIds=jp.anthropic.claude-sonnet-4-5-20250929-v1:0"
            )
        for model in models:
            if not MODEL_ID.match(model):
                raise SettingsError(f"bedrockModelIds: {model!r} is not a Bedrock model id")
        image = _text(get("orthancImage")) or cls.orthanc_image
        if not IMAGE_NAME.match(image) or ":" in image.rsplit("/", 1)[-1] or "@" in image:
            raise SettingsError(
                f"orthancImage {image!r}: give the repository only (e.g. orthancteam/orthanc); "
                "the tag goes in orthancTag"
            )
        tag = _text(get("orthancTag")) or cls.orthanc_tag
        if tag.lower() in UNPINNED_TAGS:
            raise SettingsError(
                f"orthancTag {tag!r} is refused: a moving tag changes the archive server on any "
                "task restart without a deployment; pin a release, e.g. 24.12.1"
            )
        if not IMAGE_TAG.match(tag):
            raise SettingsError(f"orthancTag {tag!r} is not a valid image tag")
        tasks = _integer(get("orthancTasks"), "orthancTasks", cls.orthanc_tasks)
        if tasks < 2:
            raise SettingsError(
                f"orthancTasks {tasks} is too few: at least 2 tasks keep the archive up while one is replaced"
            )
        prefix = (_text(get("storagePrefix")) or cls.storage_prefix).strip("/")
        if not PREFIX.match(prefix):
            raise SettingsError(f"storagePrefix {prefix!r}: letters, digits, '-', '_', '.' and '/' only")
        retention = _integer(get("logRetentionDays"), "logRetentionDays", cls.log_retention_days)
        if retention not in RETENTION_DAYS:
            raise SettingsError(
                f"logRetentionDays {retention} is not a CloudWatch retention period "
                f"(one of {', '.join(map(str, RETENTION_DAYS))})"
            )
        return cls(
            certificate_arn=certificate,
            bedrock_model_ids=models,
            orthanc_image=image,
            orthanc_tag=tag,
            orthanc_tasks=tasks,
            multi_az=_flag(get("multiAz"), "multiAz"),
            studio=_flag(get("studio"), "studio"),
            notebook_instance_type=_text(get("notebookInstanceType")) or cls.notebook_instance_type,
            database_instance_type=_text(get("databaseInstanceType")) or cls.database_instance_type,
            storage_prefix=prefix,
            log_retention_days=retention,
            region=region,
            account=account,
        )

    @property
    def image(self) -> str:
        """``repository:tag`` of the Orthanc container."""
        return f"{self.orthanc_image}:{self.orthanc_tag}"


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _integer(value: Any, name: str, default: int) -> int:
    if value is None or _text(value) == "":
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        raise SettingsError(f"{name} {value!r} is not a whole number") from None


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in ("", "false", "0", "no"):
        return False
    if text in ("true", "1", "yes"):
        return True
    raise SettingsError(f"{name} {value!r}: expected true or false")
