"""The AWS region and clients shared by everything that calls Amazon Bedrock (Converse and batch jobs).

The region is the first of: the caller's, ``[bedrock] region`` / ``WORKBENCH_BEDROCK_REGION``, ``AWS_REGION``;
otherwise botocore's own lookup (``AWS_DEFAULT_REGION``, the profile). Credentials are botocore's usual chain,
read by a session of its own per client set: boto3's default session keeps the credentials it first
resolved, so credentials set later in a notebook would be ignored.
"""

from __future__ import annotations

from typing import Any

from workbench import config
from workbench.optional import optional_import

REGION_HELP = (
    "set AWS_REGION (e.g. ap-northeast-1), WORKBENCH_BEDROCK_REGION, or [bedrock] region in config.toml"
)
"""How to give a region, for messages."""


def bedrock_region(region: str | None = None) -> str | None:
    """The AWS region for Bedrock calls (``None``: botocore decides, or fails with no region)."""
    return region or config.bedrock_settings().region


def aws_clients(
    services: tuple[str, ...],
    region: str | None,
    *,
    what: str,
    error: type[Exception],
    client_config: Any = None,
) -> tuple[Any, ...]:
    """Clients of ``services`` from one new boto3 session in ``region``.

    Parameters
    ----------
    services
        botocore service names (``"bedrock-runtime"``, ``"bedrock"``, ``"s3"``).
    region
        From :func:`bedrock_region`.
    what
        What needs them, for the message (``"Amazon Bedrock"``).
    error
        The exception type to raise when no region is known.
    client_config
        A ``botocore.config.Config`` for every client.

    Raises
    ------
    error
        When neither the settings nor botocore know a region.
    """
    boto3 = optional_import("boto3", what=what)
    from botocore.exceptions import NoRegionError

    session = boto3.session.Session()
    try:
        return tuple(session.client(name, region_name=region, config=client_config) for name in services)
    except NoRegionError:
        raise error(f"no AWS region for {what}: {REGION_HELP}") from None
