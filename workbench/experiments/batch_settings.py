"""The settings of Bedrock batch jobs (``[bedrock_batch]``, overridden by a spec's ``batch:`` table).

Environment first, then ``config.toml``: ``role_arn`` (``WORKBENCH_BEDROCK_BATCH_ROLE_ARN``), ``s3_uri``
(``WORKBENCH_BEDROCK_BATCH_S3_URI``), ``timeout_hours`` (default 24), ``min_records`` (the service's minimum
per job, default 100), ``max_records`` (its maximum per job, default 50000: more calls are split into
balanced jobs), ``poll_seconds`` (first wait, default 60; it grows by half each round up to
``max_poll_seconds``, default 600). A spec checks its ``batch:`` table with :meth:`BatchSettings.load`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from workbench import config
from workbench.errors import ConfigError, SpecError

SECTION = "bedrock_batch"
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
_S3_URI_RE = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$")


@dataclass(frozen=True)
class BatchSettings:
    """Where and how batch jobs run.

    Attributes
    ----------
    role_arn : str or None
        IAM service role Bedrock assumes to read the input and write the output in S3.
    s3_uri : str or None
        ``s3://bucket/prefix`` under which each run writes ``<run_id>/<job name>/input|output``.
    timeout_hours : int
        The job's ``timeoutDurationInHours`` (24 to 168).
    min_records : int
        Fewest records the service accepts in one job (its quota; 100 for Claude models).
    max_records : int
        Most records per job (its quota); a model with more calls gets several jobs of balanced size.
    poll_seconds, max_poll_seconds : float
        First and longest wait between two ``GetModelInvocationJob`` calls.
    """

    role_arn: str | None = None
    s3_uri: str | None = None
    timeout_hours: int = 24
    min_records: int = 100
    max_records: int = 50_000
    poll_seconds: float = 60.0
    max_poll_seconds: float = 600.0

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, *, origin: str = "spec") -> BatchSettings:
        """Read the settings: a spec's ``batch:`` table, else the environment, else ``config.toml``.

        Raises
        ------
        SpecError
            For an unknown key or a value of the wrong kind.
        """
        overrides = dict(overrides or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise SpecError(f"{origin}: unknown batch setting(s) {unknown}; known: {sorted(known)}")
        configured = config.batch_table()
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = overrides.get(f.name)
            if value is None:
                value = configured.get(f.name, f.default)
            values[f.name] = value
        try:
            settings = cls(
                role_arn=str(values["role_arn"] or "").strip() or None,
                s3_uri=str(values["s3_uri"] or "").strip().rstrip("/") or None,
                timeout_hours=int(values["timeout_hours"]),
                min_records=int(values["min_records"]),
                max_records=int(values["max_records"]),
                poll_seconds=float(values["poll_seconds"]),
                max_poll_seconds=float(values["max_poll_seconds"]),
            )
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{origin}: a batch setting has a wrong value ({exc})") from None
        if not 24 <= settings.timeout_hours <= 168:
            raise SpecError(
                f"{origin}: batch timeout_hours must be between 24 and 168 (the service's range), "
                f"got {settings.timeout_hours}"
            )
        if settings.min_records < 1 or settings.poll_seconds < 0 or settings.max_poll_seconds < 0:
            raise SpecError(f"{origin}: batch min_records must be >= 1 and the poll intervals >= 0")
        if settings.max_records < 2 * settings.min_records:
            raise SpecError(
                f"{origin}: batch max_records ({settings.max_records}) must be at least twice "
                f"min_records ({settings.min_records}), so that split jobs stay above the minimum"
            )
        return settings

    def check(self) -> tuple[str, str]:
        """The role ARN and ``(bucket, prefix)`` checked, before anything is uploaded.

        Returns
        -------
        tuple of str
            The bucket and the key prefix ('' for the bucket's root).

        Raises
        ------
        ConfigError
            No role ARN, no bucket, or one that is malformed.
        """
        where = config.config_path()
        if not self.role_arn:
            raise ConfigError(
                "Bedrock batch needs an IAM service role that Bedrock assumes to read and write the bucket: "
                f"set WORKBENCH_BEDROCK_BATCH_ROLE_ARN, or [{SECTION}] role_arn = "
                f'"arn:aws:iam::<account>:role/<name>" in {where}'
            )
        if not _ROLE_ARN_RE.match(self.role_arn):
            raise ConfigError(
                f"Bedrock batch role_arn {self.role_arn!r} is not an IAM role ARN "
                "(arn:aws:iam::<12-digit account>:role/<name>)"
            )
        if not self.s3_uri:
            raise ConfigError(
                "Bedrock batch needs an S3 bucket for the records and the answers: set "
                f'WORKBENCH_BEDROCK_BATCH_S3_URI, or [{SECTION}] s3_uri = "s3://<bucket>/<prefix>" in {where}'
            )
        match = _S3_URI_RE.match(self.s3_uri)
        if not match:
            raise ConfigError(
                f"Bedrock batch s3_uri {self.s3_uri!r} is not an S3 location (s3://<bucket>/<prefix>)"
            )
        return match.group(1), (match.group(2) or "").strip("/")
