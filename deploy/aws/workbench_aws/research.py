"""The research stack: researchers' SageMaker notebooks in the archive's private subnets, allowed to call
Bedrock.

The notebook instance runs the lifecycle pair in ``deploy/sagemaker/`` (embedded byte for byte, read at
synthesis), which builds the ``workbench`` environment and, at every start, writes the archive's address, the
user, the password file (from the Orthanc secret) and the team storage URI into the ``workbench`` kernel's
environment and config. Its settings travel as the instance's ``workbench:*`` tags. The role may call the
given Bedrock models, submit batch jobs with the batch role, use the team bucket's prefix and read the Orthanc
secret; the batch role is trusted by Bedrock only and reaches only its own prefix.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, CfnOutput, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from workbench_aws.archive import ORTHANC_USER, ArchiveStack
from workbench_aws.buckets import private_bucket
from workbench_aws.settings import DeploySettings

LIFECYCLE_DIR = Path(__file__).resolve().parents[2] / "sagemaker"
"""``deploy/sagemaker/``: the lifecycle scripts, the same files a hand-made notebook instance uses."""
GEOGRAPHIC_PREFIXES = ("us.", "eu.", "apac.", "jp.", "au.", "ca.", "global.", "us-gov.")
"""Prefixes of cross-region inference profiles: such an id also needs the foundation model it routes to."""


def lifecycle_script(name: str) -> str:
    """The text of ``deploy/sagemaker/<name>`` (checked byte for byte against the template by the tests)."""
    return (LIFECYCLE_DIR / name).read_bytes().decode("utf-8")


def bedrock_model_arns(model_ids: tuple[str, ...]) -> list[str]:
    """The resources an ``InvokeModel``/``Converse`` permission needs for the given model or profile ids."""
    arns: list[str] = []
    for model in model_ids:
        prefix = next((p for p in GEOGRAPHIC_PREFIXES if model.startswith(p)), None)
        if prefix is None:
            arns.append(f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/{model}")
            continue
        arns.append(f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:inference-profile/{model}")
        # A cross-region profile routes to the foundation model in any of its regions.
        arns.append(f"arn:{Aws.PARTITION}:bedrock:*::foundation-model/{model[len(prefix) :]}")
    return arns


class ResearchStack(Stack):
    """Team bucket, notebook role, Bedrock batch role, SageMaker notebook instance (and optional Studio)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploySettings,
        archive: ArchiveStack,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        prefix = settings.storage_prefix
        self.key = kms.Key(
            self,
            "Key",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
            description="workbench research: team bucket and notebook volumes",
        )
        self.bucket = private_bucket(
            self,
            "TeamBucket",
            key=self.key,
            access_logs=archive.log_bucket,
            logs_prefix="team-bucket/",
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(90))],
        )
        jobs_arn = f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:model-invocation-job"
        storage_uri = f"s3://{self.bucket.bucket_name}/{prefix}"
        batch_prefix = f"{prefix}/batch"

        self.batch_role = iam.Role(
            self,
            "BedrockBatchRole",
            assumed_by=iam.ServicePrincipal(
                "bedrock.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": f"{jobs_arn}/*"
                    },
                },
            ),
            description="Bedrock batch inference: reads input and writes output under the batch prefix",
        )
        self.batch_role.add_managed_policy(
            iam.ManagedPolicy(
                self,
                "BatchPrefix",
                description="Bedrock batch jobs: the batch prefix of the team bucket only",
                statements=[
                    iam.PolicyStatement(
                        actions=["s3:GetObject", "s3:PutObject"],
                        resources=[self.bucket.arn_for_objects(f"{batch_prefix}/*")],
                    ),
                    iam.PolicyStatement(
                        actions=["s3:ListBucket"],
                        resources=[self.bucket.bucket_arn],
                        conditions={"StringLike": {"s3:prefix": [f"{batch_prefix}/*"]}},
                    ),
                    _bucket_key_statement(self.key),
                ],
            )
        )

        self.role = iam.Role(
            self,
            "NotebookRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="workbench research notebooks",
        )
        models = bedrock_model_arns(settings.bedrock_model_ids)
        statements: list[iam.PolicyStatement] = []
        statements.append(
            iam.PolicyStatement(
                sid="CallModels",
                actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                resources=models,
            )
        )
        statements.append(
            iam.PolicyStatement(
                sid="BatchJobs",
                actions=[
                    "bedrock:CreateModelInvocationJob",
                    "bedrock:GetModelInvocationJob",
                    "bedrock:ListModelInvocationJobs",
                    "bedrock:StopModelInvocationJob",
                ],
                resources=[
                    f"{jobs_arn}/*",
                    *models,
                ],
            )
        )
        statements.append(
            iam.PolicyStatement(
                sid="PassBatchRole",
                actions=["iam:PassRole"],
                resources=[self.batch_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
            )
        )
        statements.append(
            iam.PolicyStatement(
                sid="TeamStorage",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[self.bucket.arn_for_objects(f"{prefix}/*")],
            )
        )
        statements.append(
            iam.PolicyStatement(
                sid="TeamStorageList",
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}/*", prefix]}},
            )
        )
        statements.append(_bucket_key_statement(self.key))
        statements.append(
            iam.PolicyStatement(
                sid="OrthancPassword",
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=[archive.orthanc_secret.secret_arn],
            )
        )
        statements.append(
            iam.PolicyStatement(
                sid="OrthancPasswordKey",
                actions=["kms:Decrypt"],
                resources=[archive.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{Aws.REGION}.amazonaws.com"}},
            )
        )
        statements.append(
            iam.PolicyStatement(
                sid="OwnSettings",
                actions=["sagemaker:ListTags"],
                resources=[
                    f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:notebook-instance/*"
                ],
            )
        )
        statements.append(
            iam.PolicyStatement(
                sid="Logs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws/sagemaker/*"
                ],
            )
        )
        self.role.add_managed_policy(
            iam.ManagedPolicy(
                self,
                "NotebookPolicy",
                statements=statements,
                description="Research notebooks: Bedrock models, batch jobs, team prefix, archive password",
            )
        )

        lifecycle = sagemaker.CfnNotebookInstanceLifecycleConfig(
            self,
            "Lifecycle",
            on_create=[
                sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(
                    content=Fn.base64(lifecycle_script("on-create.sh"))
                )
            ],
            on_start=[
                sagemaker.CfnNotebookInstanceLifecycleConfig.NotebookInstanceLifecycleHookProperty(
                    content=Fn.base64(lifecycle_script("on-start.sh"))
                )
            ],
        )
        subnet = archive.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids[0]
        self.notebook = sagemaker.CfnNotebookInstance(
            self,
            "Notebook",
            instance_type=settings.notebook_instance_type,
            role_arn=self.role.role_arn,
            subnet_id=subnet,
            security_group_ids=[archive.clients.security_group_id],
            direct_internet_access="Disabled",
            root_access="Disabled",
            kms_key_id=self.key.key_id,
            volume_size_in_gb=100,
            lifecycle_config_name=lifecycle.attr_notebook_instance_lifecycle_config_name,
            tags=[
                {"key": "workbench:orthanc-url", "value": archive.orthanc_url},
                {"key": "workbench:orthanc-user", "value": ORTHANC_USER},
                {"key": "workbench:orthanc-secret", "value": archive.orthanc_secret.secret_arn},
                {"key": "workbench:storage-uri", "value": storage_uri},
                {"key": "workbench:batch-role", "value": self.batch_role.role_arn},
            ],
        )
        if settings.studio:
            domain = sagemaker.CfnDomain(
                self,
                "Studio",
                auth_mode="IAM",
                domain_name="workbench",
                vpc_id=archive.vpc.vpc_id,
                subnet_ids=archive.vpc.select_subnets(
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
                ).subnet_ids,
                app_network_access_type="VpcOnly",
                kms_key_id=self.key.key_id,
                default_user_settings=sagemaker.CfnDomain.UserSettingsProperty(
                    execution_role=self.role.role_arn, security_groups=[archive.clients.security_group_id]
                ),
            )
            sagemaker.CfnUserProfile(
                self, "StudioUser", domain_id=domain.attr_domain_id, user_profile_name="researcher"
            )
        CfnOutput(self, "OrthancUrl", value=archive.orthanc_url)
        CfnOutput(self, "StorageUri", value=storage_uri)
        CfnOutput(self, "BatchRoleArn", value=self.batch_role.role_arn)
        CfnOutput(self, "NotebookName", value=self.notebook.attr_notebook_instance_name)


def _bucket_key_statement(key: kms.IKey) -> iam.PolicyStatement:
    """Use of the team bucket's KMS key, through S3 only."""
    return iam.PolicyStatement(
        actions=["kms:Decrypt", "kms:GenerateDataKey"],
        resources=[key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
    )
