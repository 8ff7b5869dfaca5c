"""The AWS clients of Bedrock batch jobs: the ``bedrock`` control plane and ``s3``."""

from __future__ import annotations

from typing import Any

from workbench.errors import ConfigError
from workbench.summary.backends.aws import aws_clients, bedrock_region


def make_clients(region: str | None = None) -> tuple[Any, Any]:
    """A ``bedrock`` (control plane) and an ``s3`` client in ``region`` (default: ``[bedrock] region``).

    Raises
    ------
    ConfigError
        No AWS region is known.
    """
    bedrock, s3 = aws_clients(("bedrock", "s3"), bedrock_region(region), what="Bedrock batch",
                              error=ConfigError)
    return bedrock, s3
