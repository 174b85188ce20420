"""The CDK app's entrypoint: `cdk synth` / `cdk deploy` run it (cdk.json), and so can
`python app.py`, which writes the CloudFormation template to cdk.out/ without the CDK CLI.
Configuration comes from CDK context (`-c aisle:qdrant=external -c aisle:qdrant_url=...`), read once
here into a frozen `AisleConfig`; docs/deploy.md lists every key."""

from __future__ import annotations

import os

import aws_cdk as cdk
from aisle_infra.config import AisleConfig
from aisle_infra.stack import AisleStack


def main() -> None:
    app = cdk.App(outdir=os.environ.get("CDK_OUTDIR", "cdk.out"))
    config = AisleConfig.from_context(app.node.try_get_context)
    AisleStack(app, "Aisle", config=config)
    app.synth()


if __name__ == "__main__":
    main()
