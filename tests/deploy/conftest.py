"""The CDK app in deploy/aws, synthesized offline (no AWS account, no network) once per session."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "deploy" / "aws"
CERTIFICATE = "arn:aws:acm:ap-northeast-1:123456789012:certificate/0f6d7a1e-1111-2222-3333-444455556666"
MODELS = "jp.anthropic.claude-sonnet-4-5-20250929-v1:0,anthropic.claude-3-haiku-20240307-v1:0"
CONTEXT = {"certificateArn": CERTIFICATE, "bedrockModelIds": MODELS}

for _banner in ("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"):
    os.environ.setdefault(_banner, "1")
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
    """``synth(**context, mutate=None)`` -> (app, cloud assembly), built in a temporary cdk.out."""

    os.environ.pop("CDK_DEFAULT_ACCOUNT", None)  # account-agnostic: availability zones stay Fn::GetAZs

    def run(mutate: Callable[[Any], None] | None = None, **context: Any) -> tuple[Any, Any]:
        from workbench_aws.app import build_app

        app = build_app({**CONTEXT, **context}, outdir=str(tmp_path_factory.mktemp("cdk.out")))
        if mutate is not None:
            mutate(app)
        return app, app.synth()

    return run


@pytest.fixture(scope="session")
def default_app(synth: Callable[..., Any]) -> tuple[Any, Any]:
    """The app with the default parameters."""
    return synth()
