#!/usr/bin/env python3
"""The seed's AWS deployment as one CDK app: the archive (Orthanc on Fargate, RDS, S3) and the research
environment.

Synthesize offline with ``cdk synth -c certificateArn=ARN -c bedrockModelIds=ID[,ID]`` (or ``python3 app.py``
with the same values in ``cdk.json``'s context). A missing or wrong parameter stops synthesis with one line
``workbench: error: ...``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from workbench_aws.settings import DeploySettings, SettingsError


def main() -> int:
    """Check the parameters, then build and synthesize the app; one line on stderr for a bad parameter."""
    context = json.loads((Path(__file__).with_name("cdk.json")).read_text(encoding="utf-8")).get(
        "context", {}
    )
    try:
        context.update(json.loads(os.environ.get("CDK_CONTEXT_JSON") or "{}"))
        # Checked before the CDK (and its Node process, with its banners) starts.
        DeploySettings.from_context(context.get)
    except (SettingsError, ValueError) as error:
        print(f"workbench: error: {error}", file=sys.stderr)
        return 2
    from workbench_aws.app import build_app

    build_app().synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
