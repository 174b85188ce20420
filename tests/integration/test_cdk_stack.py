"""The AWS CDK app synthesises, and the template holds what docs/deploy.md promises. Runs the real
CDK library (through jsii, hence Node.js); nothing is deployed."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("node") is None, reason="the AWS CDK needs Node.js (jsii)"),
]
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # this machine has Node 20

cdk = pytest.importorskip("aws_cdk")
from aisle_infra.config import AisleConfig, ConfigError  # noqa: E402
from aisle_infra.stack import AisleStack  # noqa: E402
from aws_cdk.assertions import Match, Template  # noqa: E402


def synth(**config: Any) -> Template:
    app = cdk.App()
    return Template.from_stack(AisleStack(app, "Aisle", config=AisleConfig(**config)))


@pytest.fixture(scope="module")
def in_vpc() -> Template:
    return synth(llm_base_url="https://api.example.com/v1", llm_model="gpt-4.1-mini")


def _api_container(template: Template) -> dict[str, Any]:
    for definition in template.find_resources("AWS::ECS::TaskDefinition").values():
        for container in definition["Properties"]["ContainerDefinitions"]:
            if container["Name"] == "web":
                return dict(container)
    raise AssertionError("no API container")


def test_the_api_runs_on_fargate_behind_a_load_balancer_checking_readyz(in_vpc: Template) -> None:
    in_vpc.resource_count_is("AWS::ECS::Service", 2)  # the API and Qdrant
    in_vpc.has_resource_properties("AWS::ElasticLoadBalancingV2::TargetGroup", {"HealthCheckPath": "/readyz"})
    in_vpc.has_resource_properties(
        "AWS::ECS::Service",
        {
            "DesiredCount": 2,
            "DeploymentConfiguration": Match.object_like(
                {"DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}}
            ),
        },
    )
    in_vpc.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 2)
    in_vpc.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 2, "MaxCapacity": 10}
    )


def test_the_api_uses_the_qdrant_server_adapter_redis_and_secret_keys(in_vpc: Template) -> None:
    container = _api_container(in_vpc)
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["AISLE_VECTOR_BACKEND"] == "qdrant"
    assert env["QDRANT_URL"] == "http://qdrant.aisle.internal:6333"
    assert env["HOST"] == "0.0.0.0"
    assert env["AISLE_EMBED_THREADS"] == "1"
    assert env["LLM_MODEL"] == "gpt-4.1-mini"
    assert "REDIS_URL" in env
    assert {s["Name"] for s in container["Secrets"]} == {"QDRANT_API_KEY", "LLM_API_KEY", "AISLE_ADMIN_KEY"}
    assert not {"QDRANT_API_KEY", "LLM_API_KEY", "AISLE_ADMIN_KEY"} & set(env)
    in_vpc.has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup",
        {"TransitEncryptionEnabled": True, "MultiAZEnabled": True, "NumCacheClusters": 2},
    )


def test_qdrant_in_the_vpc_keeps_its_storage_on_encrypted_efs(in_vpc: Template) -> None:
    in_vpc.has_resource_properties("AWS::EFS::FileSystem", {"Encrypted": True})
    in_vpc.has_resource_properties("AWS::ServiceDiscovery::Service", {"Name": "qdrant"})
    in_vpc.has_resource("AWS::EFS::FileSystem", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})


def test_alarms_cover_5xx_latency_and_unhealthy_targets(in_vpc: Template) -> None:
    in_vpc.resource_count_is("AWS::CloudWatch::Alarm", 3)
    in_vpc.has_resource_properties("AWS::CloudWatch::Alarm", {"Threshold": 0.3, "ExtendedStatistic": "p99"})


def test_an_external_qdrant_cluster_replaces_the_in_vpc_one() -> None:
    template = synth(qdrant="external", qdrant_url="https://qdrant.example.com:6333")
    template.resource_count_is("AWS::ECS::Service", 1)
    template.resource_count_is("AWS::EFS::FileSystem", 0)
    env = {e["Name"]: e["Value"] for e in _api_container(template)["Environment"]}
    assert env["QDRANT_URL"] == "https://qdrant.example.com:6333"
    assert "LLM_BASE_URL" not in env


@pytest.mark.parametrize(
    "bad",
    [
        {"qdrant": "external"},
        {"desired_count": 0},
        {"desired_count": 5, "max_count": 2},
        {"cpu": 1024, "memory_mib": 1024},
        {"llm_base_url": "https://x"},
        {"log_retention_days": 31},
    ],
)
def test_bad_configuration_fails_before_synthesis(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        AisleConfig(**bad)


def test_context_values_are_read_and_typed() -> None:
    context = {"aisle:desired_count": "3", "aisle:max_count": 6, "aisle:qdrant": "in_vpc"}
    config = AisleConfig.from_context(context.get)
    assert (config.desired_count, config.max_count) == (3, 6)
    with pytest.raises(ConfigError):
        AisleConfig.from_context({"aisle:desired_count": "many"}.get)
