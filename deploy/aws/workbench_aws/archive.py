"""The archive stack: Orthanc on ECS Fargate behind an internal HTTPS load balancer, its index on RDS
PostgreSQL, its DICOM files on S3, as in the seed's deployment.

Orthanc runs from the ``orthancteam/orthanc`` image, configured entirely through ``ORTHANC__*`` environment
variables (the image turns them into its JSON configuration): the PostgreSQL index plugin (``Lock`` off, so
that several tasks share one index), the S3 object-storage plugin on the encrypted archive bucket (credentials
from the task role), the DICOMweb plugin and the Stone web viewer, authentication on with the one user whose
password lives in Secrets Manager. Only the notebooks' security group reaches the load balancer.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_backup as backup
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from workbench_aws.buckets import private_bucket
from workbench_aws.settings import RETENTION_DAYS, DeploySettings

ORTHANC_USER = "workbench"
"""The Orthanc user the notebooks log in as (its password is generated into Secrets Manager)."""
ORTHANC_PORT = 8042
DATABASE_NAME = "orthanc"
DATABASE_INSTANCE = "workbench-orthanc-index"
DATABASE_PORT = 5433
"""Not PostgreSQL's default port (one obstacle more for a scan; AwsSolutions-RDS11)."""


class ArchiveStack(Stack):
    """VPC, encryption key, archive bucket, PostgreSQL index, Orthanc service and its load balancer.

    Attributes
    ----------
    vpc
        The VPC; the research stack places the notebooks in its private subnets.
    clients
        Security group of the archive's clients (the notebooks): the only source the load balancer accepts.
    key
        The customer-managed KMS key for buckets, database, logs and secrets.
    orthanc_secret
        ``{"workbench": PASSWORD}``: Orthanc's registered user, read by the notebooks.
    orthanc_url
        ``https://...`` of the internal load balancer.
    log_bucket
        Access logs of the buckets and the load balancer.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: DeploySettings, **kwargs: object
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        retention = retention_days(settings.log_retention_days)

        self.key = kms.Key(
            self,
            "Key",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
            description="workbench archive: buckets, database, logs, secrets",
        )
        self.key.grant_encrypt_decrypt(iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com"))

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=1,
            subnet_configuration=[
                # Public subnets hold only the NAT gateway (notebooks install packages through it).
                ec2.SubnetConfiguration(
                    name="public",
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=24,
                    map_public_ip_on_launch=False,
                ),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
                ec2.SubnetConfiguration(
                    name="database", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
        )
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=retention,
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        for service, endpoint in (("S3", ec2.GatewayVpcEndpointAwsService.S3),):
            self.vpc.add_gateway_endpoint(f"{service}Endpoint", service=endpoint)

        self.log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            # Load-balancer access logs accept only SSE-S3 (not KMS) on their target bucket.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            removal_policy=RemovalPolicy.RETAIN,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(settings.log_retention_days))],
        )
        self.dicom_bucket = private_bucket(
            self, "DicomFiles", key=self.key, access_logs=self.log_bucket, logs_prefix="dicom-files/"
        )

        self.clients = ec2.SecurityGroup(
            self,
            "ArchiveClients",
            vpc=self.vpc,
            allow_all_outbound=True,
            description="Clients of the archive (the research notebooks)",
        )
        balancer_group = ec2.SecurityGroup(
            self,
            "BalancerGroup",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="Orthanc load balancer: HTTPS from the clients only",
        )
        balancer_group.add_ingress_rule(self.clients, ec2.Port.tcp(443), "HTTPS from the research notebooks")
        service_group = ec2.SecurityGroup(
            self,
            "ServiceGroup",
            vpc=self.vpc,
            allow_all_outbound=True,
            description="Orthanc tasks: HTTP from the load balancer only",
        )
        service_group.add_ingress_rule(
            balancer_group, ec2.Port.tcp(ORTHANC_PORT), "Orthanc from the balancer"
        )
        balancer_group.add_egress_rule(service_group, ec2.Port.tcp(ORTHANC_PORT), "to the Orthanc tasks")
        database_group = ec2.SecurityGroup(
            self,
            "DatabaseGroup",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="Orthanc index: PostgreSQL from the Orthanc tasks only",
        )
        database_group.add_ingress_rule(service_group, ec2.Port.tcp(DATABASE_PORT), "index from Orthanc")

        self.database = rds.DatabaseInstance(
            self,
            "Index",
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17_5),
            instance_type=ec2.InstanceType(settings.database_instance_type),
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[database_group],
            port=DATABASE_PORT,
            database_name=DATABASE_NAME,
            credentials=rds.Credentials.from_generated_secret("orthanc", encryption_key=self.key),
            storage_encrypted=True,
            storage_encryption_key=self.key,
            multi_az=settings.multi_az,
            backup_retention=Duration.days(7),
            deletion_protection=True,
            removal_policy=RemovalPolicy.SNAPSHOT,
            auto_minor_version_upgrade=True,
            publicly_accessible=False,
            iam_authentication=True,
            monitoring_interval=Duration.seconds(60),
            enable_performance_insights=True,
            performance_insight_encryption_key=self.key,
            cloudwatch_logs_exports=["postgresql", "upgrade"],
            instance_identifier=DATABASE_INSTANCE,
            allocated_storage=50,
            max_allocated_storage=1000,
        )
        for log in ("postgresql", "upgrade"):
            # Made here (not by RDS, nor by the CDK's retention Lambda) so that they are encrypted and expire.
            group = logs.LogGroup(
                self,
                f"IndexLogs{log.title()}",
                retention=retention,
                encryption_key=self.key,
                log_group_name=f"/aws/rds/instance/{DATABASE_INSTANCE}/{log}",
                removal_policy=RemovalPolicy.RETAIN,
            )
            self.database.node.add_dependency(group)
        plan = backup.BackupPlan.daily35_day_retention(
            self,
            "IndexBackups",
            backup.BackupVault(
                self, "BackupVault", encryption_key=self.key, removal_policy=RemovalPolicy.RETAIN
            ),
        )
        plan.add_selection(
            "Index", resources=[backup.BackupResource.from_rds_database_instance(self.database)]
        )

        self.orthanc_secret = secretsmanager.Secret(
            self,
            "OrthancUser",
            encryption_key=self.key,
            description='Orthanc\'s registered user for the research notebooks: {"workbench": PASSWORD}',
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}",
                generate_string_key=ORTHANC_USER,
                exclude_punctuation=True,
                password_length=32,
            ),
        )

        cluster = ecs.Cluster(
            self, "Cluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED
        )
        task = ecs.FargateTaskDefinition(self, "Orthanc", cpu=1024, memory_limit_mib=4096)
        task.task_role.add_managed_policy(
            iam.ManagedPolicy(
                self,
                "OrthancStorage",
                description="Orthanc's S3 object storage: its own bucket only",
                statements=[
                    iam.PolicyStatement(
                        actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                        resources=[self.dicom_bucket.arn_for_objects("*")],
                    ),
                    iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.dicom_bucket.bucket_arn]),
                    iam.PolicyStatement(
                        actions=["kms:Decrypt", "kms:GenerateDataKey"],
                        resources=[self.key.key_arn],
                        conditions={"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}},
                    ),
                ],
            )
        )
        service_logs = logs.LogGroup(
            self,
            "OrthancLogs",
            retention=retention,
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        task.add_container(
            "orthanc",
            image=ecs.ContainerImage.from_registry(settings.image),
            port_mappings=[ecs.PortMapping(container_port=ORTHANC_PORT)],
            logging=ecs.LogDriver.aws_logs(stream_prefix="orthanc", log_group=service_logs),
            environment={
                "ORTHANC__NAME": "workbench-archive",
                "ORTHANC__AUTHENTICATION_ENABLED": "true",
                "ORTHANC__REMOTE_ACCESS_ALLOWED": "true",
                "ORTHANC__DICOM_SERVER_ENABLED": "false",
                "ORTHANC__DEFAULT_ENCODING": "Utf8",
                "ORTHANC__POSTGRESQL__ENABLE_INDEX": "true",
                "ORTHANC__POSTGRESQL__ENABLE_STORAGE": "false",
                "ORTHANC__POSTGRESQL__LOCK": "false",
                "ORTHANC__POSTGRESQL__HOST": self.database.db_instance_endpoint_address,
                "ORTHANC__POSTGRESQL__PORT": str(DATABASE_PORT),
                "ORTHANC__POSTGRESQL__DATABASE": DATABASE_NAME,
                "ORTHANC__POSTGRESQL__USERNAME": "orthanc",
                "ORTHANC__POSTGRESQL__ENABLE_SSL": "true",
                "ORTHANC__AWS_S3_STORAGE__BUCKET_NAME": self.dicom_bucket.bucket_name,
                "ORTHANC__AWS_S3_STORAGE__REGION": self.region,
                "DICOM_WEB_PLUGIN_ENABLED": "true",
                "ORTHANC__DICOM_WEB__ROOT": "/dicom-web/",
                "STONE_WEB_VIEWER_PLUGIN_ENABLED": "true",
                # the viewer the study browser links to (web-viewer/app/viewer.html, through JupyterLab)
                "ORTHANC_WEB_VIEWER_PLUGIN_ENABLED": "true",
            },
            secrets={
                "ORTHANC__REGISTERED_USERS": ecs.Secret.from_secrets_manager(self.orthanc_secret),
                "ORTHANC__POSTGRESQL__PASSWORD": ecs.Secret.from_secrets_manager(
                    self.database.secret, "password"
                ),  # type: ignore[arg-type]
            },
            readonly_root_filesystem=False,
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=task,
            desired_count=settings.orthanc_tasks,
            security_groups=[service_group],
            assign_public_ip=False,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            min_healthy_percent=50,
        )

        balancer = elbv2.ApplicationLoadBalancer(
            self,
            "Balancer",
            vpc=self.vpc,
            internet_facing=False,
            security_group=balancer_group,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            deletion_protection=True,
            drop_invalid_header_fields=True,
        )
        balancer.log_access_logs(self.log_bucket, prefix="balancer")
        listener = balancer.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            open=False,
            certificates=[
                acm.Certificate.from_certificate_arn(self, "Certificate", settings.certificate_arn)
            ],
            ssl_policy=elbv2.SslPolicy.TLS13_RES,
        )
        listener.add_targets(
            "Orthanc",
            port=ORTHANC_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.service],
            # Orthanc answers 401 to an anonymous probe: that is a live server with authentication on.
            health_check=elbv2.HealthCheck(path="/system", healthy_http_codes="200,401"),
            deregistration_delay=Duration.seconds(30),
        )
        self.orthanc_url = f"https://{balancer.load_balancer_dns_name}"


def retention_days(days: int) -> logs.RetentionDays:
    """The ``RetentionDays`` member for a number of days (``settings`` has checked it is one)."""
    members = [member for member in logs.RetentionDays if member.name != "INFINITE"]
    return dict(zip(RETENTION_DAYS, members, strict=True))[days]
