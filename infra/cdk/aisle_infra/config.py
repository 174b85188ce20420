"""The deployment's settings, read once from CDK context and validated, so a bad value fails
`cdk synth` with a message instead of a half-deployed stack. docs/operations.md lists every key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

QdrantMode = Literal["in_vpc", "external"]
EmbedBackend = Literal["onnx", "torch"]


class ConfigError(ValueError):
    """A context value is missing or out of range."""


@dataclass(frozen=True, slots=True)
class AisleConfig:
    region: str = "us-east-1"  # the stack is region-specific (ALB access logs need the region)
    qdrant: QdrantMode = "in_vpc"
    qdrant_url: str | None = None  # required when qdrant == "external"
    qdrant_api_key_secret: str | None = None  # external: name of an existing Secrets Manager secret
    qdrant_image: str = "qdrant/qdrant:v1.20.0"  # the server line qdrant-client 1.20 speaks to
    qdrant_instance_type: str = "m6i.large"  # in_vpc: the EC2 host (2 vCPU, 8 GiB)
    qdrant_volume_gib: int = 50  # in_vpc: the EBS gp3 data volume
    ecr_repository: str = "aisle"
    image_tag: str = "latest"
    embed_backend: EmbedBackend = "onnx"  # what the image was built for (Dockerfile AISLE_EMBED_BACKEND)
    desired_count: int = 2
    max_count: int = 10
    cpu: int = 1024  # one uvicorn worker per task, embedder at 1 thread (docs/embeddings.md)
    memory_mib: int = 2048
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_deadline_ms: int = 2000
    certificate_arn: str | None = None  # HTTPS listener when set
    alarm_email: str | None = None
    log_retention_days: int = 30

    def __post_init__(self) -> None:
        if self.qdrant not in ("in_vpc", "external"):
            raise ConfigError(f"aisle:qdrant must be 'in_vpc' or 'external', got {self.qdrant!r}")
        if self.qdrant == "external" and not (self.qdrant_url or "").startswith(("http://", "https://")):
            raise ConfigError("aisle:qdrant=external needs aisle:qdrant_url (http:// or https://)")
        if self.qdrant == "in_vpc" and (self.qdrant_url or self.qdrant_api_key_secret):
            raise ConfigError(
                "aisle:qdrant_url and aisle:qdrant_api_key_secret are for aisle:qdrant=external"
            )
        if not 20 <= self.qdrant_volume_gib <= 16384:
            raise ConfigError("aisle:qdrant_volume_gib must be between 20 and 16384")
        if self.embed_backend not in ("onnx", "torch"):
            raise ConfigError(f"aisle:embed_backend must be 'onnx' or 'torch', got {self.embed_backend!r}")
        if not 1 <= self.desired_count <= self.max_count <= 100:
            raise ConfigError("need 1 <= aisle:desired_count <= aisle:max_count <= 100")
        if (self.cpu, self.memory_mib) not in _FARGATE_SIZES:
            raise ConfigError(f"aisle:cpu/memory_mib {self.cpu}/{self.memory_mib} is not a Fargate size")
        if self.log_retention_days not in (7, 14, 30, 90, 180, 365):
            raise ConfigError("aisle:log_retention_days must be one of 7, 14, 30, 90, 180, 365")
        if bool(self.llm_base_url) != bool(self.llm_model):
            raise ConfigError("set both aisle:llm_base_url and aisle:llm_model, or neither")
        if not 50 <= self.llm_deadline_ms <= 120_000:
            raise ConfigError("aisle:llm_deadline_ms must be between 50 and 120000")

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_model)

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> AisleConfig:
        defaults = cls.__dataclass_fields__
        kwargs: dict[str, Any] = {}
        for name, spec in defaults.items():
            found = get(f"aisle:{name}")
            raw = spec.default if found is None else found
            if spec.type == "int" and raw is not None:
                try:
                    raw = int(raw)
                except (TypeError, ValueError) as e:
                    raise ConfigError(f"aisle:{name} must be an integer, got {raw!r}") from e
            kwargs[name] = raw
        return cls(**kwargs)


_FARGATE_SIZES = {
    (512, 1024), (512, 2048), (512, 3072), (512, 4096),
    (1024, 2048), (1024, 3072), (1024, 4096), (1024, 8192),
    (2048, 4096), (2048, 8192), (2048, 16384),
    (4096, 8192), (4096, 16384), (4096, 30720),
}  # fmt: skip
