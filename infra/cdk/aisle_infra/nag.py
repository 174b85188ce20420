"""cdk-nag (AwsSolutions) for this app: `apply_checks` registers the rule pack as a CDK policy
validation plugin, so `cdk synth` and the tests fail on any finding not acknowledged here.

Every acknowledgement names one rule on one construct, with the reason it does not apply or is
accepted; IAM5 ones name the exact wildcard they accept (`AwsSolutions-IAM5[Resource::*]`)."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def apply_checks(app: cdk.App) -> None:
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """`rule` without the pack prefix: "VPC7", or "IAM5[Resource::*]"."""
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason))
