"""The AWS CDK app synthesises with cdk-nag's AwsSolutions pack applied (a finding that is not
acknowledged in code, with its reason, fails synthesis), cfn-lint passes on the template, and the
template holds what docs/operations.md promises. With the default context (infra/cdk/cdk.json),
the API's and the ingest task's environment passes the real `Settings.from_env`. Runs the real CDK
library (through jsii, hence Node.js); nothing is deployed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("node") is None, reason="the AWS CDK needs Node.js (jsii)"),
]
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # this machine has Node 20

cdk = pytest.importorskip("aws_cdk")
from aisle_infra.config import AisleConfig, ConfigError  # noqa: E402
from aisle_infra.nag import apply_checks  # noqa: E402
from aisle_infra.stack import API_CONTAINER, INGEST_CONTAINER, AisleStack  # noqa: E402
from aws_cdk.assertions import Match, Template  # noqa: E402

CDK_JSON = Path(__file__).resolve().parents[2] / "infra" / "cdk" / "cdk.json"
# cfn-lint findings that are CDK's own and explained, not the stack's:
# W3005: ecs_patterns' service DependsOn its listener rule, which a Ref already implies (harmless).
CFN_LINT_IGNORED = ("W3005",)


def synth(out: Path, config: AisleConfig) -> tuple[Template, Path]:
    """Synthesise with cdk-nag: `app.synth()` raises on any unacknowledged AwsSolutions finding."""
    app = cdk.App(outdir=str(out))
    apply_checks(app)
    AisleStack(app, "Aisle", config=config)
    app.synth()
    path = out / "Aisle.template.json"
    return Template.from_json(json.loads(path.read_text())), path


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> tuple[Template, Path]:
    context = json.loads(CDK_JSON.read_text())["context"]
    return synth(tmp_path_factory.mktemp("default"), AisleConfig.from_context(context.get))


@pytest.fixture(scope="module")
def with_llm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Template, Path]:
    config = AisleConfig(
        llm_base_url="https://api.example.com/v1",
        llm_model="gpt-4.1-mini",
        certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/abc",
        alarm_email="ops@example.com",
    )
    return synth(tmp_path_factory.mktemp("llm"), config)


@pytest.fixture(scope="module")
def external(tmp_path_factory: pytest.TempPathFactory) -> tuple[Template, Path]:
    config = AisleConfig(
        qdrant="external",
        qdrant_url="https://abc.eu-central.aws.cloud.qdrant.io:6333",
        qdrant_api_key_secret="aisle/qdrant-cloud",
    )
    return synth(tmp_path_factory.mktemp("external"), config)


def _container(template: Template, name: str) -> dict[str, Any]:
    for definition in template.find_resources("AWS::ECS::TaskDefinition").values():
        for container in definition["Properties"]["ContainerDefinitions"]:
            if container["Name"] == name:
                return dict(container)
    raise AssertionError(f"no container {name}")


def _placeholder(value: Any) -> str:
    """A CloudFormation value as the string the task would see, intrinsics as placeholders."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_placeholder(p) for p in parts)
    if isinstance(value, dict) and ("Ref" in value or "Fn::GetAtt" in value):
        return "resolved-at-deploy"
    raise AssertionError(f"unexpected value in a container environment: {value!r}")


SECRET_PLACEHOLDER = "secret-placeholder-" + "x" * 40


def _task_env(container: dict[str, Any]) -> dict[str, str]:
    env = {e["Name"]: _placeholder(e["Value"]) for e in container.get("Environment", [])}
    # Secrets Manager values: long enough for AISLE_ADMIN_KEY's minimum (a generated 48-char secret).
    env |= {s["Name"]: SECRET_PLACEHOLDER for s in container.get("Secrets", [])}
    return env


@pytest.mark.parametrize("name", [API_CONTAINER, INGEST_CONTAINER])
def test_the_default_context_starts_the_api_and_the_ingest_task(
    default: tuple[Template, Path], name: str
) -> None:
    env = _task_env(_container(default[0], name))
    settings = Settings.from_env(env)  # the real loader: exits the process with 2 on a bad env
    assert settings.vector_backend == "qdrant"
    assert settings.embed_backend == "onnx"
    assert not settings.llm_enabled
    assert not {k for k in env if k.startswith("LLM_")}  # no key without its model
    assert settings.auth  # production: auth on, and the start-up gate has its admin key
    assert settings.admin_key == SECRET_PLACEHOLDER


def test_with_an_llm_the_key_comes_with_its_model(with_llm: tuple[Template, Path]) -> None:
    container = _container(with_llm[0], API_CONTAINER)
    settings = Settings.from_env(_task_env(container))
    assert settings.llm_enabled
    assert settings.llm_model == "gpt-4.1-mini"
    secret_names = {"QDRANT_API_KEY", "LLM_API_KEY", "AISLE_ADMIN_KEY"}
    assert {s["Name"] for s in container["Secrets"]} == secret_names
    assert not secret_names & {e["Name"] for e in container["Environment"]}


@pytest.mark.parametrize("which", ["default", "with_llm", "external"])
def test_cfn_lint_passes_on_the_template(which: str, request: pytest.FixtureRequest) -> None:
    _, path = request.getfixturevalue(which)
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("cfn-lint")),
            "--ignore-checks",
            *CFN_LINT_IGNORED,
            "--",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_api_rolls_out_behind_a_load_balancer_checking_readyz(default: tuple[Template, Path]) -> None:
    template = default[0]
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup", {"HealthCheckPath": "/readyz"}
    )
    template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "LaunchType": "FARGATE",
            "DesiredCount": 2,
            "DeploymentConfiguration": Match.object_like(
                {
                    "MinimumHealthyPercent": 100,
                    "MaximumPercent": 200,
                    "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                }
            ),
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 2, "MaxCapacity": 10}
    )


def test_without_a_certificate_the_load_balancer_is_internal(default: tuple[Template, Path]) -> None:
    default[0].has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internal"})


def test_with_a_certificate_it_is_public_https_only(with_llm: tuple[Template, Path]) -> None:
    template = with_llm[0]
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internet-facing"}
    )
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::Listener", {"Protocol": "HTTPS"})
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {"Protocol": "HTTP", "DefaultActions": [Match.object_like({"Type": "redirect"})]},
    )


def test_qdrant_in_the_vpc_runs_on_ebs_with_a_health_check(default: tuple[Template, Path]) -> None:
    template = default[0]
    template.resource_count_is("AWS::EFS::FileSystem", 0)
    template.has_resource(
        "AWS::EC2::Volume",
        {
            "Properties": Match.object_like({"Encrypted": True, "VolumeType": "gp3", "Size": 50}),
            "DeletionPolicy": "Snapshot",
            "UpdateReplacePolicy": "Snapshot",
        },
    )
    container = _container(template, "qdrant")
    assert container["HealthCheck"]["Command"][0] == "CMD-SHELL"
    assert "/readyz" in container["HealthCheck"]["Command"][1]
    assert container["MountPoints"][0]["ContainerPath"] == "/qdrant/storage"
    template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "ServiceRegistries": Match.any_value(),
            "DeploymentConfiguration": Match.object_like({"MinimumHealthyPercent": 0, "MaximumPercent": 100}),
        },
    )
    template.has_resource_properties("AWS::AutoScaling::AutoScalingGroup", {"MinSize": "1", "MaxSize": "1"})
    env = _task_env(_container(template, API_CONTAINER))
    assert env["QDRANT_URL"] == "http://qdrant.aisle.internal:6333"


def test_an_external_qdrant_cluster_replaces_the_in_vpc_one(external: tuple[Template, Path]) -> None:
    template = external[0]
    template.resource_count_is("AWS::ECS::Service", 1)
    template.resource_count_is("AWS::EC2::Volume", 0)
    template.resource_count_is("AWS::AutoScaling::AutoScalingGroup", 0)
    container = _container(template, API_CONTAINER)
    settings = Settings.from_env(_task_env(container))
    assert settings.qdrant_url == "https://abc.eu-central.aws.cloud.qdrant.io:6333"
    assert settings.qdrant_api_key == SECRET_PLACEHOLDER


def test_logs_expire(default: tuple[Template, Path]) -> None:
    template = default[0]
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert groups
    assert all(g["Properties"].get("RetentionInDays") == 30 for g in groups.values())
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {"LifecycleConfiguration": {"Rules": [Match.object_like({"ExpirationInDays": 30})]}},
    )
    template.has_resource_properties("AWS::EC2::FlowLog", {"LogDestinationType": "s3"})


def test_redis_is_a_disposable_encrypted_cache(default: tuple[Template, Path]) -> None:
    default[0].has_resource(
        "AWS::ElastiCache::ReplicationGroup",
        {
            "Properties": Match.object_like(
                {"TransitEncryptionEnabled": True, "MultiAZEnabled": True, "Port": 6380}
            ),
            "DeletionPolicy": "Delete",
        },
    )


def test_latency_alarms_are_per_route_class(default: tuple[Template, Path]) -> None:
    template = default[0]
    filters = {
        f["Properties"]["MetricTransformations"][0]["MetricName"]: f["Properties"]["FilterPattern"]
        for f in template.find_resources("AWS::Logs::MetricFilter").values()
    }
    assert set(filters) == {"VectorRouteLatency", "LlmRouteLatency"}
    assert '$.route = "/v1/catalogs/{catalog}/search"' in filters["VectorRouteLatency"]
    assert '$.route = "/v1/catalogs/{catalog}/assistant"' in filters["LlmRouteLatency"]
    assert "/assistant" not in filters["VectorRouteLatency"]
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "VectorRouteLatency", "ExtendedStatistic": "p99", "Threshold": 300},
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "LlmRouteLatency", "ExtendedStatistic": "p99", "Threshold": 2500},
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "RunningTaskCount", "Threshold": 1}
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"qdrant": "external"},
        {"qdrant_url": "https://x"},
        {"desired_count": 0},
        {"desired_count": 5, "max_count": 2},
        {"cpu": 1024, "memory_mib": 1024},
        {"llm_base_url": "https://x"},
        {"llm_model": "m"},
        {"log_retention_days": 31},
        {"embed_backend": "tensorflow"},
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
