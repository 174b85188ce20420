"""The CDK app's entrypoint: `cdk synth` / `cdk deploy` run it (cdk.json), and so can
`python app.py`, which writes the CloudFormation template to cdk.out/ without the CDK CLI.
Configuration comes from CDK context (`-c aisle:qdrant=external -c aisle:qdrant_url=...`), read once
here into a frozen `AisleConfig`; docs/operations.md lists every key; cdk-nag (AwsSolutions) checks every synth."""

from __future__ import annotations

import os

import aws_cdk as cdk
from aisle_infra.config import AisleConfig
from aisle_infra.nag import apply_checks
from aisle_infra.stack import AisleStack


def main() -> None:
    app = cdk.App(outdir=os.environ.get("CDK_OUTDIR", "cdk.out"))
    config = AisleConfig.from_context(app.node.try_get_context)
    apply_checks(app)
    # The CDK CLI sets the account it deploys to; `python app.py` synthesises account-agnostic.
    AisleStack(app, "Aisle", config=config, account=os.environ.get("CDK_DEFAULT_ACCOUNT"))
    app.synth()


if __name__ == "__main__":
    main()
