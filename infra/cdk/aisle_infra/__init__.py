"""Aisle on AWS: ECS Fargate behind an ALB, Qdrant (in the VPC on EFS, or an external cluster),
ElastiCache Redis for the shared LLM cache, secrets in Secrets Manager, alarms."""
