"""One stack: network, the API service, the vector store, the shared cache, secrets, logs, alarms.

- API: ECS Fargate tasks (one uvicorn worker each) behind an ALB whose health check is `/readyz`
  (model loaded, index reachable); rolling deploys that keep every old task until its replacement
  is healthy (minimum 100 %, maximum 200 %), with the circuit breaker rolling back a deploy that
  never gets healthy; CPU and request-count autoscaling.
- Network exposure: with `aisle:certificate_arn` the ALB is public and HTTPS only (HTTP redirects);
  without one it is internal (reachable from the VPC and what is peered or VPN'd to it), so the
  stack never serves plain HTTP on the internet. Inside the VPC, Qdrant is plain HTTP behind a
  security group that admits only the API and ingest tasks; Redis has TLS in transit.
- Vector store: several tasks cannot share a Qdrant Edge shard, so the service uses the Qdrant
  server adapter: Qdrant in the VPC on EBS (aisle_infra/qdrant.py), or an external cluster
  (`aisle:qdrant=external`, `aisle:qdrant_url`, `aisle:qdrant_api_key_secret`).
- Shared LLM cache: ElastiCache Redis (two nodes, Multi-AZ, TLS) -> `REDIS_URL`.
- Secrets reach the containers as ECS secrets, never as plain environment: the generated bootstrap
  admin API key (auth is on), Qdrant's key, and the LLM key only when an LLM model is configured
  (the LLM stage is off by default).
- Logs: every log group and the log bucket (ALB access logs, VPC flow logs) expire after
  `aisle:log_retention_days`.
- Image: from an ECR repository made beforehand (`aisle:ecr_repository`).
- Ingestion: a task definition for `aisle ingest` on the same image (`aws ecs run-task`).
- Alarms (aisle_infra/alarms.py): 5xx share, unhealthy targets, p99 per route class, Qdrant down.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_ecs_patterns as patterns
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secrets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from aisle_infra.alarms import Alarms
from aisle_infra.config import AisleConfig
from aisle_infra.nag import acknowledge
from aisle_infra.qdrant import InVpcQdrant

REDIS_PORT = 6380  # not the default 6379 (AwsSolutions-AEC5)
API_PORT = 8000
API_CONTAINER = "web"
INGEST_CONTAINER = "ingest"


class AisleStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AisleConfig,
        account: str | None = None,
        **kwargs: Any,
    ) -> None:
        env = cdk.Environment(account=account, region=config.region)
        super().__init__(scope, construct_id, env=env, **kwargs)
        self.config = config
        retention = _RETENTION[config.log_retention_days]
        self.log_bucket = self._log_bucket(config.log_retention_days)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=1,
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_s3(self.log_bucket, "vpc-flow-logs/")
                )
            },
        )
        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=self.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED
        )
        self.topic = sns.Topic(self, "Alarms", display_name="Aisle alarms", enforce_ssl=True)
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.service_sg = ec2.SecurityGroup(self, "ApiTasks", vpc=self.vpc, description="Aisle API tasks")
        task_secrets: dict[str, ecs.Secret] = {}
        qdrant_service = None
        if config.qdrant == "in_vpc":
            qdrant_key = secrets.Secret(
                self,
                "QdrantApiKey",
                description="Aisle: the in-VPC Qdrant's API key",
                generate_secret_string=secrets.SecretStringGenerator(
                    exclude_punctuation=True, password_length=40
                ),
            )
            acknowledge(
                qdrant_key,
                "SMG4",
                "Qdrant reads its API key once at start: rotating it means restarting Qdrant and the "
                "API together, a planned change (docs/operations.md), not a rotation Lambda",
            )
            qdrant = InVpcQdrant(
                self,
                "Qdrant",
                config=config,
                cluster=self.cluster,
                clients=self.service_sg,
                api_key=qdrant_key,
                log_group=self._log_group("QdrantLogs", retention),
                notifications=self.topic,
            )
            qdrant_url, qdrant_service = qdrant.url, qdrant.service
            task_secrets["QDRANT_API_KEY"] = ecs.Secret.from_secrets_manager(qdrant_key)
        else:
            qdrant_url = str(config.qdrant_url)
            if config.qdrant_api_key_secret:
                task_secrets["QDRANT_API_KEY"] = ecs.Secret.from_secrets_manager(
                    secrets.Secret.from_secret_name_v2(self, "QdrantApiKey", config.qdrant_api_key_secret)
                )
        # Auth is on in production and the API refuses to start without an admin key
        # (docs/security.md): a generated bootstrap key, read by operators from Secrets Manager.
        admin_key = secrets.Secret(
            self,
            "AdminApiKey",
            description="Aisle: bootstrap admin API key (AISLE_ADMIN_KEY)",
            generate_secret_string=secrets.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
        )
        acknowledge(
            admin_key,
            "SMG4",
            "the bootstrap admin key is replaced by stored keys (aisle keys create); rotating it is "
            "a redeploy with a new value (docs/security.md), not a rotation Lambda",
        )
        task_secrets["AISLE_ADMIN_KEY"] = ecs.Secret.from_secrets_manager(admin_key)
        environment = {
            "HOST": "0.0.0.0",
            "PORT": str(API_PORT),
            "AISLE_VECTOR_BACKEND": "qdrant",
            "QDRANT_URL": qdrant_url,
            "REDIS_URL": self._redis(),
            "AISLE_EMBED_BACKEND": config.embed_backend,
            "AISLE_EMBED_THREADS": "1",
            "AISLE_LOG_JSON": "true",
            "HF_HUB_OFFLINE": "1",
        }
        if config.llm_enabled:  # the key only with its model: Settings refuses a key without one
            llm_key = secrets.Secret(
                self,
                "LlmApiKey",
                description="Aisle: LLM provider API key (set its value before enabling the LLM)",
            )
            acknowledge(
                llm_key,
                "SMG4",
                "the LLM provider issues this key; it is rotated at the provider, then put here",
            )
            environment |= {
                "LLM_BASE_URL": str(config.llm_base_url),
                "LLM_MODEL": str(config.llm_model),
                "LLM_DEADLINE_MS": str(config.llm_deadline_ms),
            }
            task_secrets["LLM_API_KEY"] = ecs.Secret.from_secrets_manager(llm_key)
        # The repository is made once, outside the stack, so the image exists before the first
        # deploy starts tasks from it (docs/operations.md, Deploying on AWS).
        self.repository = ecr.Repository.from_repository_name(self, "Images", config.ecr_repository)
        image = ecs.ContainerImage.from_ecr_repository(self.repository, config.image_tag)
        api_logs = self._log_group("ApiLogs", retention)
        self.api = self._api(image, environment, task_secrets, api_logs)
        self.ingest_task = self._ingest_task(image, environment, task_secrets, api_logs)
        Alarms(
            self,
            "Alarm",
            topic=self.topic,
            target_group=self.api.target_group,
            api_logs=api_logs,
            llm_deadline_ms=config.llm_deadline_ms,
            qdrant_service=qdrant_service,
        )
        scheme = "https" if config.certificate_arn else "http"
        cdk.CfnOutput(self, "ApiUrl", value=f"{scheme}://{self.api.load_balancer.load_balancer_dns_name}")
        cdk.CfnOutput(self, "ImageRepository", value=self.repository.repository_uri)
        cdk.CfnOutput(self, "ClusterName", value=self.cluster.cluster_name)
        cdk.CfnOutput(self, "IngestTaskDefinition", value=self.ingest_task.task_definition_arn)
        cdk.CfnOutput(self, "TaskSecurityGroup", value=self.service_sg.security_group_id)

    def _log_group(self, construct_id: str, retention: logs.RetentionDays) -> logs.LogGroup:
        return logs.LogGroup(self, construct_id, retention=retention, removal_policy=RemovalPolicy.DESTROY)

    def _log_bucket(self, days: int) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "Logs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # ALB access logs accept SSE-S3 only
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(days))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            bucket,
            "S1",
            "this is the log bucket (ALB access logs, VPC flow logs): logging its own access would "
            "log into itself",
        )
        return bucket

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
            port=REDIS_PORT,
            num_cache_clusters=2,
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            cache_subnet_group_name=subnets.ref,
            security_group_ids=[sg.security_group_id],
        )
        # A cache: rebuilt from LLM answers on a miss, so no snapshot on delete or replacement.
        group.apply_removal_policy(RemovalPolicy.DESTROY)
        acknowledge(
            group,
            "AEC6",
            "holds only cached LLM answers about public catalog data; reachable only from the API "
            "tasks' security group in private subnets, TLS in transit and encrypted at rest",
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
            public_load_balancer=https,  # no certificate: internal only, never public plain HTTP
            open_listener=https,
            min_healthy_percent=100,  # rolling: old tasks serve until their replacements are healthy
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            health_check_grace_period=Duration.seconds(120),  # the model loads before /readyz answers
            task_image_options=patterns.ApplicationLoadBalancedTaskImageOptions(
                image=image,
                container_name=API_CONTAINER,
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
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS if https else None,
            redirect_http=https,
        )
        if not https:
            service.load_balancer.connections.allow_from(
                ec2.Peer.ipv4(self.vpc.vpc_cidr_block), ec2.Port.tcp(80), "clients inside the VPC"
            )
            acknowledge(
                service.load_balancer,
                "EC23",
                "internal load balancer open to its own VPC's CIDR only (a token at synth time, "
                "which the rule cannot evaluate)",
            )
        else:
            acknowledge(
                service.load_balancer,
                "EC23",
                "the public API's load balancer: HTTPS (and the redirect from HTTP) from anywhere",
            )
        service.load_balancer.log_access_logs(self.log_bucket, "alb")
        service.target_group.configure_health_check(
            path="/readyz", healthy_http_codes="200", interval=Duration.seconds(15), healthy_threshold_count=2
        )
        service.target_group.set_attribute("deregistration_delay.timeout_seconds", "30")
        scaling = service.service.auto_scale_task_count(
            min_capacity=config.desired_count, max_capacity=config.max_count
        )
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=60)
        scaling.scale_on_request_count("Requests", requests_per_target=300, target_group=service.target_group)
        _acknowledge_task_definition(service.task_definition)
        return service

    def _ingest_task(
        self,
        image: ecs.ContainerImage,
        environment: dict[str, str],
        task_secrets: dict[str, ecs.Secret],
        log_group: logs.LogGroup,
    ) -> ecs.FargateTaskDefinition:
        """`aws ecs run-task --task-definition <IngestTask> --overrides` with the catalog file as
        the command; ingestion is incremental by content hash (docs/operations.md)."""
        task = ecs.FargateTaskDefinition(self, "IngestTask", cpu=2048, memory_limit_mib=8192)
        ingest_env = {k: v for k, v in environment.items() if k not in ("HOST", "PORT")}
        task.add_container(
            INGEST_CONTAINER,
            image=image,
            command=["aisle", "ingest", "data/sample/icecat-sample.jsonl", "--catalog", "icecat"],
            environment={**ingest_env, "AISLE_INGEST_THREADS": "2"},
            secrets=task_secrets,
            logging=ecs.LogDriver.aws_logs(stream_prefix="ingest", log_group=log_group),
        )
        _acknowledge_task_definition(task)
        return task


def _acknowledge_task_definition(task: ecs.TaskDefinition) -> None:
    acknowledge(
        task,
        "ECS2",
        "plain environment holds only non-secret configuration (URLs, ports, modes); every "
        "credential is an ECS secret from Secrets Manager",
    )
    acknowledge(
        task,
        "IAM5[Resource::*]",
        "ecr:GetAuthorizationToken, which the execution role needs to pull the image, has no "
        "resource-level scope",
    )


_RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}
