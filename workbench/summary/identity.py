"""Who generated a summary: the person at the notebook, and the AWS identity that called the model.

Two identities are recorded with every generation, because they prove different things:

``user`` (with ``user_source`` saying where it came from), the person, first found of:

- ``jupyterhub``: ``$JUPYTERHUB_USER``, set by JupyterHub's spawner for the server of the user who logged
  in to the hub. It proves a hub login, as far as the notebook server's environment is not edited by hand.
- ``sagemaker``: the SageMaker Studio user profile of the space (``UserProfileName`` in
  ``/opt/ml/metadata/resource-metadata.json``, written by SageMaker). It proves which profile's app ran.
- ``configured``: ``$WORKBENCH_USER`` / ``[summary] user``, for shared OS accounts. It proves nothing: anyone
  can set it.
- ``os``: the login name of the process's user id (from the password database, not ``$LOGNAME`` or
  ``$USER``, which anyone can set). It proves which local account ran the code.

``aws_identity``: for calls to Amazon Bedrock, the ARN of the AWS caller identity (``sts:GetCallerIdentity``,
asked once per process). It is what AWS authenticated and what CloudTrail records for the call: the
strongest of these, but it names a role (``assumed-role/Researcher/<session>``), and a role may be shared.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import config

logger = logging.getLogger(__name__)

SAGEMAKER_METADATA = Path("/opt/ml/metadata/resource-metadata.json")
"""Where SageMaker Studio apps describe themselves (domain, user profile, space)."""


@dataclass(frozen=True)
class LocalUser:
    """The person a generation is recorded for.

    Attributes
    ----------
    name : str
    source : str
        ``jupyterhub``, ``sagemaker``, ``configured`` or ``os`` (see the module's description).
    """

    name: str
    source: str


def sagemaker_user_profile(path: Path | None = None) -> str | None:
    """The SageMaker Studio user profile of this app, or ``None`` outside SageMaker Studio."""
    path = path or SAGEMAKER_METADATA
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    profile = metadata.get("UserProfileName") if isinstance(metadata, dict) else None
    return str(profile) if profile else None


def os_login() -> str:
    """The login name of the process's (effective) user id; the id itself when it has no name."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def local_user() -> LocalUser:
    """Who is at the notebook: JupyterHub user, SageMaker user profile, configured name, or OS login."""
    hub = (config.env_value(config.EnvVar.JUPYTERHUB_USER) or "").strip()
    if hub:
        return LocalUser(hub, "jupyterhub")
    profile = sagemaker_user_profile()
    if profile:
        return LocalUser(profile, "sagemaker")
    configured = config.summary_settings().user
    if configured and configured.strip():
        return LocalUser(configured.strip(), "configured")
    return LocalUser(os_login(), "os")


_lock = threading.Lock()
_aws_identity: dict[str, str | None] = {}
"""The process's AWS caller identity, once asked (``None`` when the lookup failed)."""


def aws_caller_arn(sts_client: Any = None, *, region: str | None = None) -> str | None:
    """The ARN of the AWS identity this process calls AWS as, asked once per process.

    Parameters
    ----------
    sts_client
        An STS client (tests pass one wrapped in ``botocore.stub.Stubber``); default: one from a new boto3
        session, with the process's credentials.
    region
        For the default client.

    Returns
    -------
    str or None
        ``None`` when the lookup failed (no credentials, expired token, no network); not asked again.
    """
    with _lock:
        if "arn" in _aws_identity:
            return _aws_identity["arn"]
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if sts_client is None:
                import boto3

                sts_client = boto3.session.Session().client("sts", region_name=region)
            arn: str | None = str(sts_client.get_caller_identity()["Arn"])
        except (BotoCoreError, ClientError) as exc:
            logger.info("AWS caller identity unknown (%s); generations record no aws_identity", exc)
            arn = None
        _aws_identity["arn"] = arn
        return arn


def forget_aws_identity() -> None:
    """Ask STS again on the next :func:`aws_caller_arn` (after a change of credentials)."""
    with _lock:
        _aws_identity.clear()
