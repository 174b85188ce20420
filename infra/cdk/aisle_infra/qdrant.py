"""Qdrant in the VPC on block storage: one ECS task on an EC2 host whose data lives on an
encrypted EBS gp3 volume, found through Cloud Map (`qdrant.aisle.internal:6333`).

Why not EFS: it is NFS, and Qdrant's install docs say its storage must not be on a network file
system. Why not a Fargate task's EBS volume: ECS creates that volume per task and deletes it with
the task, so every deploy would start from an empty index. So: an Auto Scaling group of one host,
pinned to the volume's availability zone; at boot the host attaches the volume (it survives
instance replacement; stack deletion snapshots it) and mounts it where the task's storage is.

One Qdrant node owns one storage directory, so its own deploys stop the old task before the new
one starts (minimum healthy 0 %): a Qdrant upgrade is a short outage of the vector routes, while API
deploys never touch it. Zero-downtime Qdrant needs a replicated cluster: `aisle:qdrant=external`.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secrets
from aws_cdk import aws_sns as sns
from constructs import Construct

from aisle_infra.config import AisleConfig
from aisle_infra.nag import acknowledge

PORT = 6333
DATA_DIR = "/var/lib/qdrant"
NAMESPACE = "aisle.internal"
# Qdrant's image has bash but no curl: an HTTP/1.0 GET on /readyz over bash's /dev/tcp.
_READY = (
    "exec 3<>/dev/tcp/127.0.0.1/6333 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 "
    "&& head -n 1 <&3 | grep -q ' 200'"
)


class InVpcQdrant(Construct):
    """`url` is what the API's QDRANT_URL is; `service` the ECS service (for alarms)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AisleConfig,
        cluster: ecs.Cluster,
        clients: ec2.ISecurityGroup,
        api_key: secrets.ISecret,
        log_group: logs.ILogGroup,
        notifications: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        vpc = cluster.vpc
        subnet = vpc.private_subnets[0]  # the host and its volume share one availability zone
        volume = ec2.Volume(
            self,
            "Data",
            availability_zone=subnet.availability_zone,
            size=Size.gibibytes(config.qdrant_volume_gib),
            volume_type=ec2.EbsDeviceVolumeType.GP3,
            encrypted=True,
            removal_policy=RemovalPolicy.SNAPSHOT,
        )
        self.host_group = self._hosts(config, vpc, subnet, volume, notifications)
        # Managed scaling and termination protection (the group is pinned at one host anyway) keep
        # ECS's managed draining in charge of the host's shutdown, not a Lambda hook.
        capacity = ecs.AsgCapacityProvider(self, "Capacity", auto_scaling_group=self.host_group)
        cluster.add_asg_capacity_provider(capacity)
        cluster.add_default_cloud_map_namespace(name=NAMESPACE)
        task = ecs.Ec2TaskDefinition(self, "Task", network_mode=ecs.NetworkMode.AWS_VPC)
        task.add_volume(name="storage", host=ecs.Host(source_path=DATA_DIR))
        container = task.add_container(
            "qdrant",
            image=ecs.ContainerImage.from_registry(config.qdrant_image),
            memory_reservation_mib=6144,  # of the host's 8 GiB; the rest for the OS and the ECS agent
            port_mappings=[ecs.PortMapping(container_port=PORT)],
            secrets={"QDRANT__SERVICE__API_KEY": ecs.Secret.from_secrets_manager(api_key)},
            logging=ecs.LogDriver.aws_logs(stream_prefix="qdrant", log_group=log_group),
            health_check=ecs.HealthCheck(
                command=["CMD-SHELL", f'bash -c "{_READY}"'],
                interval=Duration.seconds(15),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(60),  # collections load from disk before /readyz
            ),
        )
        container.add_mount_points(
            ecs.MountPoint(container_path="/qdrant/storage", source_volume="storage", read_only=False)
        )
        self.security_group = ec2.SecurityGroup(self, "Tasks", vpc=vpc, description="Qdrant")
        self.security_group.add_ingress_rule(clients, ec2.Port.tcp(PORT), "Aisle API and ingest tasks")
        self.service = ecs.Ec2Service(
            self,
            "Service",
            cluster=cluster,
            task_definition=task,
            desired_count=1,
            # One node owns the volume: stop the old task, then start the new one (see above).
            min_healthy_percent=0,
            max_healthy_percent=100,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            security_groups=[self.security_group],
            vpc_subnets=ec2.SubnetSelection(subnets=[subnet]),
            cloud_map_options=ecs.CloudMapOptions(name="qdrant"),
            capacity_provider_strategies=[
                ecs.CapacityProviderStrategy(capacity_provider=capacity.capacity_provider_name, weight=1)
            ],
        )
        self.url = f"http://qdrant.{NAMESPACE}:{PORT}"
        acknowledge(
            task,
            "ECS2",
            "no plain environment at all: the only setting, the API key, is an ECS secret",
        )

    def _hosts(
        self,
        config: AisleConfig,
        vpc: ec2.IVpc,
        subnet: ec2.ISubnet,
        volume: ec2.Volume,
        notifications: sns.ITopic,
    ) -> autoscaling.AutoScalingGroup:
        role = iam.Role(
            self,
            "HostRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Qdrant ECS container instance",
        )
        template = ec2.LaunchTemplate(
            self,
            "HostTemplate",
            instance_type=ec2.InstanceType(config.qdrant_instance_type),
            machine_image=ecs.EcsOptimizedImage.amazon_linux2023(),
            role=role,
            user_data=ec2.UserData.for_linux(),
            require_imdsv2=True,
            detailed_monitoring=True,
            security_group=ec2.SecurityGroup(self, "Host", vpc=vpc, description="Qdrant ECS host"),
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        30, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3
                    ),
                )
            ],
        )
        group = autoscaling.AutoScalingGroup(
            self,
            "Hosts",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=[subnet]),
            launch_template=template,
            min_capacity=1,
            max_capacity=1,
            notifications=[autoscaling.NotificationConfiguration(topic=notifications)],
            health_checks=autoscaling.HealthChecks.ec2(grace_period=Duration.minutes(5)),
        )
        volume.grant_attach_volume_by_resource_tag(group.grant_principal, [group])
        group.add_user_data(*_attach_and_mount(volume.volume_id))
        acknowledge(
            role,
            "IAM5[Resource::*]",
            "ECS container-instance and log permissions CDK grants the host role: ecs:Submit*/"
            "Poll/StartTelemetrySession and ecr:GetAuthorizationToken have no resource-level scope",
        )
        acknowledge(
            role,
            "IAM5[Action::ecs:Submit*]",
            "the ECS agent's state-change reports (SubmitContainer/Task/AttachmentStateChanges), "
            "as CDK grants them to every container instance",
        )
        acknowledge(
            role,
            f"IAM5[Resource::arn:<AWS::Partition>:ec2:{Stack.of(self).region}:<AWS::AccountId>:instance/*]",
            "ec2:AttachVolume on instances carrying the volume's tag (a tag condition, not a name): "
            "the instance id is only known at boot",
        )
        return group


def _attach_and_mount(volume_id: str) -> list[str]:
    """Boot script: attach the data volume to this instance, format it on first use, mount it."""
    return [
        "set -euo pipefail",
        "command -v aws >/dev/null || dnf install -y -q awscli-2",
        'TOKEN=$(curl -sfX PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")',
        'META() { curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }',
        "INSTANCE=$(META instance-id); REGION=$(META placement/region)",
        # A replaced host may still be releasing the volume: retry for up to 5 minutes.
        'for _ in $(seq 30); do aws ec2 attach-volume --region "$REGION" '
        f'--volume-id {volume_id} --instance-id "$INSTANCE" --device /dev/xvdf && break; sleep 10; done',
        # Nitro names the device nvme*: its by-id link carries the volume id without the dash.
        f"DEV=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_$(echo {volume_id} | tr -d -)",
        'for _ in $(seq 60); do [ -e "$DEV" ] && break; sleep 2; done',
        'blkid "$DEV" || mkfs.xfs "$DEV"',
        f"mkdir -p {DATA_DIR}",
        f'echo "$DEV {DATA_DIR} xfs defaults,nofail 0 2" >> /etc/fstab',
        f"mount {DATA_DIR}",
    ]
