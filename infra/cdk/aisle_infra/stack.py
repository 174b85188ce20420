"""One stack: network, the API service, the vector store, the shared cache, secrets, alarms.

- API: ECS Fargate tasks (one uvicorn worker each, torch at 1 thread) behind an ALB whose health
  check is `/readyz` (model loaded, index reachable); CPU and request-count autoscaling.
- Vector store: several tasks cannot share a Qdrant Edge shard (one process holds it), so the
  service uses the Qdrant server adapter: a Qdrant task in the VPC with its storage on EFS, found
  through Cloud Map (`qdrant.aisle.internal:6333`), or an external Qdrant cluster
  (`aisle:qdrant=external`, `aisle:qdrant_url`). Its API key is a generated secret.
- Shared LLM cache: ElastiCache Redis (two nodes, Multi-AZ, TLS in transit) -> `REDIS_URL`.
- Secrets (LLM key, Qdrant key, the bootstrap admin API key) reach the containers as ECS secrets, never as plain environment.
- Ingestion: a task definition for `aisle ingest` on the same image (run it with `aws ecs run-task`).
- Alarms (SNS): ALB 5xx share, p99 target latency over the 300 ms search SLO, unhealthy targets.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_ecs_patterns as patterns
from aws_cdk import aws_efs as efs
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secrets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from aisle_infra.config import AisleConfig

QDRANT_PORT = 6333
REDIS_PORT = 6379
API_PORT = 8000


class AisleStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: AisleConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.vpc = ec2.Vpc(self, "Vpc", max_azs=2, nat_gateways=1)
        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED
        )
        self.qdrant_key = secrets.Secret(
            self,
            "QdrantApiKey",
            description="Aisle: Qdrant API key",
            generate_secret_string=secrets.SecretStringGenerator(
                exclude_punctuation=True, password_length=40
            ),
        )
        self.llm_key = secrets.Secret(
            self,
            "LlmApiKey",
            description="Aisle: LLM provider API key (set the value after the first deploy)",
        )
        # Auth is on in production and the API refuses to start without an admin key (docs/security.md).
        self.admin_key = secrets.Secret(
            self,
            "AdminApiKey",
            description="Aisle: bootstrap admin API key (AISLE_ADMIN_KEY)",
            generate_secret_string=secrets.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
        )
        self.service_sg = ec2.SecurityGroup(self, "ApiTasks", vpc=self.vpc, description="Aisle API tasks")
        qdrant_url = self._qdrant() if config.qdrant == "in_vpc" else str(config.qdrant_url)
        redis_url = self._redis()
        self.repository = ecr.Repository(
            self,
            "Images",
            repository_name=config.ecr_repository,
            image_scan_on_push=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        image = ecs.ContainerImage.from_ecr_repository(self.repository, config.image_tag)
        environment = {
            "HOST": "0.0.0.0",
            "PORT": str(API_PORT),
            "AISLE_VECTOR_BACKEND": "qdrant",
            "QDRANT_URL": qdrant_url,
            "REDIS_URL": redis_url,
            "AISLE_EMBED_THREADS": "1",
            "AISLE_LOG_JSON": "true",
            "HF_HUB_OFFLINE": "1",
        }
        if config.llm_base_url and config.llm_model:
            environment |= {
                "LLM_BASE_URL": config.llm_base_url,
                "LLM_MODEL": config.llm_model,
                "LLM_DEADLINE_MS": str(config.llm_deadline_ms),
            }
        task_secrets = {
            "QDRANT_API_KEY": ecs.Secret.from_secrets_manager(self.qdrant_key),
            "LLM_API_KEY": ecs.Secret.from_secrets_manager(self.llm_key),
            "AISLE_ADMIN_KEY": ecs.Secret.from_secrets_manager(self.admin_key),
        }
        log_group = logs.LogGroup(
            self,
            "ApiLogs",
            retention=_RETENTION[config.log_retention_days],
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.api = self._api(image, environment, task_secrets, log_group)
        self._ingest_task(image, environment, task_secrets, log_group)
        self._alarms()
        cdk.CfnOutput(self, "ApiUrl", value=f"http://{self.api.load_balancer.load_balancer_dns_name}")
        cdk.CfnOutput(self, "ImageRepository", value=self.repository.repository_uri)

    def _qdrant(self) -> str:
        """Qdrant in the VPC: one task, storage on EFS, reachable only from the API tasks."""
        self.cluster.add_default_cloud_map_namespace(name="aisle.internal")
        storage = efs.FileSystem(
            self,
            "QdrantStorage",
            vpc=self.vpc,
            encrypted=True,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            removal_policy=RemovalPolicy.RETAIN,
        )
        task = ecs.FargateTaskDefinition(self, "QdrantTask", cpu=1024, memory_limit_mib=4096)
        task.add_volume(
            name="storage",
            efs_volume_configuration=ecs.EfsVolumeConfiguration(
                file_system_id=storage.file_system_id, transit_encryption="ENABLED"
            ),
        )
        container = task.add_container(
            "qdrant",
            image=ecs.ContainerImage.from_registry(self.config.qdrant_image),
            port_mappings=[ecs.PortMapping(container_port=QDRANT_PORT)],
            secrets={"QDRANT__SERVICE__API_KEY": ecs.Secret.from_secrets_manager(self.qdrant_key)},
            logging=ecs.LogDriver.aws_logs(stream_prefix="qdrant"),
        )
        container.add_mount_points(
            ecs.MountPoint(container_path="/qdrant/storage", source_volume="storage", read_only=False)
        )
        storage.grant_read_write(task.task_role)
        sg = ec2.SecurityGroup(self, "QdrantTasks", vpc=self.vpc, description="Qdrant")
        sg.add_ingress_rule(self.service_sg, ec2.Port.tcp(QDRANT_PORT), "Aisle API tasks")
        storage.connections.allow_default_port_from(sg)
        ecs.FargateService(
            self,
            "Qdrant",
            cluster=self.cluster,
            task_definition=task,
            desired_count=1,  # one writer on one EFS directory; a cluster is `aisle:qdrant=external`
            min_healthy_percent=0,
            max_healthy_percent=100,
            security_groups=[sg],
            cloud_map_options=ecs.CloudMapOptions(name="qdrant"),
        )
        return f"http://qdrant.aisle.internal:{QDRANT_PORT}"

    def _redis(self) -> str:
        sg = ec2.SecurityGroup(self, "Redis", vpc=self.vpc, description="Aisle LLM cache")
        sg.add_ingress_rule(self.service_sg, ec2.Port.tcp(REDIS_PORT), "Aisle API tasks")
        subnets = elasticache.CfnSubnetGroup(
            self,
            "RedisSubnets",
            description="Aisle cache",
            subnet_ids=self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids,
        )
        group = elasticache.CfnReplicationGroup(
            self,
            "Cache",
            replication_group_description="Aisle shared LLM answer cache",
            engine="redis",
            cache_node_type="cache.t4g.small",
            num_cache_clusters=2,
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            cache_subnet_group_name=subnets.ref,
            security_group_ids=[sg.security_group_id],
        )
        return f"rediss://{group.attr_primary_end_point_address}:{group.attr_primary_end_point_port}/0"

    def _api(
        self,
        image: ecs.ContainerImage,
        environment: dict[str, str],
        task_secrets: dict[str, ecs.Secret],
        log_group: logs.LogGroup,
    ) -> patterns.ApplicationLoadBalancedFargateService:
        config = self.config
        https = config.certificate_arn is not None
        service = patterns.ApplicationLoadBalancedFargateService(
            self,
            "Api",
            cluster=self.cluster,
            cpu=config.cpu,
            memory_limit_mib=config.memory_mib,
            desired_count=config.desired_count,
            security_groups=[self.service_sg],
            public_load_balancer=True,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            health_check_grace_period=Duration.seconds(120),  # the model loads before /readyz answers
            task_image_options=patterns.ApplicationLoadBalancedTaskImageOptions(
                image=image,
                container_port=API_PORT,
                environment=environment,
                secrets=task_secrets,
                log_driver=ecs.LogDriver.aws_logs(stream_prefix="api", log_group=log_group),
            ),
            protocol=elbv2.ApplicationProtocol.HTTPS if https else elbv2.ApplicationProtocol.HTTP,
            certificate=(
                cdk.aws_certificatemanager.Certificate.from_certificate_arn(
                    self, "Cert", config.certificate_arn
                )
                if config.certificate_arn
                else None
            ),
            redirect_http=https,
        )
        service.target_group.configure_health_check(
            path="/readyz", healthy_http_codes="200", interval=Duration.seconds(15), healthy_threshold_count=2
        )
        service.target_group.set_attribute("deregistration_delay.timeout_seconds", "30")
        scaling = service.service.auto_scale_task_count(
            min_capacity=config.desired_count, max_capacity=config.max_count
        )
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=60)
        scaling.scale_on_request_count("Requests", requests_per_target=300, target_group=service.target_group)
        return service

    def _ingest_task(
        self,
        image: ecs.ContainerImage,
        environment: dict[str, str],
        task_secrets: dict[str, ecs.Secret],
        log_group: logs.LogGroup,
    ) -> None:
        """`aws ecs run-task --task-definition <IngestTask> --overrides` with the catalog's S3 path
        or file as the command; ingestion is incremental by content hash (docs/operations.md)."""
        task = ecs.FargateTaskDefinition(self, "IngestTask", cpu=2048, memory_limit_mib=8192)
        task.add_container(
            "ingest",
            image=image,
            command=["aisle", "ingest", "data/sample/icecat-sample.jsonl", "--catalog", "icecat"],
            environment={**environment, "AISLE_INGEST_THREADS": "2"},
            secrets=task_secrets,
            logging=ecs.LogDriver.aws_logs(stream_prefix="ingest", log_group=log_group),
        )

    def _alarms(self) -> None:
        topic = sns.Topic(self, "Alarms", display_name="Aisle alarms")
        if self.config.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self.config.alarm_email))
        action = cw_actions.SnsAction(topic)
        tg = self.api.target_group
        five_minutes = Duration.minutes(5)
        errors = cw.MathExpression(
            expression="100 * errors / MAX([requests, 1])",
            using_metrics={
                "errors": tg.metrics.http_code_target(
                    elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=five_minutes
                ),
                "requests": tg.metrics.request_count(period=five_minutes),
            },
            label="5xx share (%)",
            period=five_minutes,
        )
        alarms = [
            errors.create_alarm(
                self,
                "High5xxShare",
                threshold=1,
                evaluation_periods=2,
                alarm_description="over 1% of responses are 5xx",
            ),
            tg.metrics.target_response_time(statistic="p99", period=five_minutes).create_alarm(
                self,
                "P99LatencyOverSlo",
                threshold=0.3,
                evaluation_periods=3,
                alarm_description="p99 target response time over 300 ms (the search SLO, docs/operations.md)",
            ),
            tg.metrics.unhealthy_host_count(period=Duration.minutes(1)).create_alarm(
                self,
                "UnhealthyTargets",
                threshold=0,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                alarm_description="a task fails /readyz (model not loaded or Qdrant unreachable)",
            ),
        ]
        for alarm in alarms:
            alarm.add_alarm_action(action)


_RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}
