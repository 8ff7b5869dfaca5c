"""Put the app together: parameters, the two stacks, and cdk-nag's checks."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aws_cdk import App, Aspects, Environment, Tags
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks

from workbench_aws.archive import ArchiveStack
from workbench_aws.checks import suppress_archive, suppress_research
from workbench_aws.research import ResearchStack
from workbench_aws.settings import DeploySettings

CDK_JSON = Path(__file__).resolve().parents[1] / "cdk.json"


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> App:
    """The CDK app with the archive and research stacks, checked by cdk-nag's AwsSolutions and HIPAA packs.

    Parameters
    ----------
    context
        CDK context values (as ``-c key=value`` gives them); ``cdk.json``'s context fills what is not given.
    outdir
        Cloud assembly folder (``cdk.out`` by default).

    Raises
    ------
    SettingsError
        A missing or wrong parameter.
    """
    defaults = json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {})
    app = App(context={**defaults, **(context or {})}, outdir=outdir)
    settings = DeploySettings.from_context(app.node.try_get_context)
    env = Environment(
        region=settings.region, account=settings.account or os.environ.get("CDK_DEFAULT_ACCOUNT") or None
    )
    archive = ArchiveStack(
        app,
        "WorkbenchArchive",
        settings=settings,
        env=env,
        description="workbench: Orthanc on Fargate, PostgreSQL index on RDS, DICOM files on S3",
    )
    research = ResearchStack(
        app,
        "WorkbenchResearch",
        settings=settings,
        archive=archive,
        env=env,
        description="workbench: SageMaker notebooks calling Bedrock, team storage on S3",
    )
    suppress_archive(archive, settings)
    suppress_research(research, settings)
    Tags.of(app).add("project", "workbench")
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    Aspects.of(app).add(HIPAASecurityChecks(verbose=True))
    return app
