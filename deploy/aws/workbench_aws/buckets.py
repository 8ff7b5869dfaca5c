"""The one kind of bucket for patient data and team records: KMS-encrypted, versioned, private, TLS only."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct


def private_bucket(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    access_logs: s3.IBucket,
    logs_prefix: str,
    **extra: Any,
) -> s3.Bucket:
    """A bucket encrypted with ``key``, versioned, blocking public access, refusing plain HTTP, kept on
    ``cdk destroy``, with its access logs under ``logs_prefix`` in ``access_logs``; ``extra`` adds settings
    (e.g. lifecycle rules)."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        enforce_ssl=True,
        versioned=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        removal_policy=RemovalPolicy.RETAIN,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=logs_prefix,
        **extra,
    )
