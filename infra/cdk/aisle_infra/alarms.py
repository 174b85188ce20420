"""Alarms, to one SNS topic: ALB 5xx share and unhealthy targets, and request latency per route
class from the API's canonical request log line (`route`, `duration_ms`, `llm_calls`).

The ALB's own latency cannot tell a 10 ms vector search from a 2 s LLM answer, so one p99 alarm on
it is either always firing or blind. Two classes, each with its own budget (docs/operations.md):
- vector: search, similar, product, catalog and complement routes that made no upstream LLM call
  (p99 under the 300 ms search SLO);
- LLM: the assistant and bundles, and any request that called the LLM (p99 under the LLM
  deadline plus 500 ms for retrieval).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

NAMESPACE = "Aisle"
VECTOR_ROUTES = (
    "/v1/catalogs",
    "/v1/catalogs/{catalog}/search",
    "/v1/catalogs/{catalog}/similar",
    "/v1/catalogs/{catalog}/products/{product_id}",
    "/v1/catalogs/{catalog}/complements",
)
LLM_ROUTES = ("/v1/catalogs/{catalog}/assistant", "/v1/catalogs/{catalog}/bundles")
VECTOR_P99_MS = 300


def _routes(names: tuple[str, ...]) -> logs.JsonPattern:
    return logs.FilterPattern.any(*(logs.FilterPattern.string_value("$.route", "=", r) for r in names))


def route_class_patterns() -> dict[str, logs.JsonPattern]:
    request = logs.FilterPattern.string_value("$.event", "=", "request")
    no_llm_call = logs.FilterPattern.any(
        logs.FilterPattern.not_exists("$.llm_calls"), logs.FilterPattern.number_value("$.llm_calls", "=", 0)
    )
    called_llm = logs.FilterPattern.number_value("$.llm_calls", ">", 0)
    return {
        "Vector": logs.FilterPattern.all(request, _routes(VECTOR_ROUTES), no_llm_call),
        "Llm": logs.FilterPattern.all(
            request,
            logs.FilterPattern.any(
                _routes(LLM_ROUTES), logs.FilterPattern.all(_routes(VECTOR_ROUTES), called_llm)
            ),
        ),
    }


class Alarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        target_group: elbv2.ApplicationTargetGroup,
        api_logs: logs.ILogGroup,
        llm_deadline_ms: int,
        qdrant_service: ecs.Ec2Service | None,
    ) -> None:
        super().__init__(scope, construct_id)
        five_minutes = Duration.minutes(5)
        errors = cw.MathExpression(
            expression="100 * errors / MAX([requests, 1])",
            using_metrics={
                "errors": target_group.metrics.http_code_target(
                    elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=five_minutes
                ),
                "requests": target_group.metrics.request_count(period=five_minutes),
            },
            label="5xx share (%)",
            period=five_minutes,
        )
        self.alarms = [
            errors.create_alarm(
                self,
                "High5xxShare",
                threshold=1,
                evaluation_periods=2,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description="over 1% of responses are 5xx",
            ),
            target_group.metrics.unhealthy_host_count(period=Duration.minutes(1)).create_alarm(
                self,
                "UnhealthyTargets",
                threshold=0,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                alarm_description="a task fails /readyz (model not loaded or Qdrant unreachable)",
            ),
        ]
        budgets = {"Vector": VECTOR_P99_MS, "Llm": llm_deadline_ms + 500}
        for name, pattern in route_class_patterns().items():
            metric = logs.MetricFilter(
                self,
                f"{name}Latency",
                log_group=api_logs,
                filter_pattern=pattern,
                metric_namespace=NAMESPACE,
                metric_name=f"{name}RouteLatency",
                metric_value="$.duration_ms",
                unit=cw.Unit.MILLISECONDS,
            ).metric(statistic="p99", period=five_minutes)
            self.alarms.append(
                metric.create_alarm(
                    self,
                    f"{name}RouteP99",
                    threshold=budgets[name],
                    evaluation_periods=3,
                    treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                    alarm_description=f"{name.lower()} routes: p99 over {budgets[name]} ms for 15 minutes",
                )
            )
        if qdrant_service is not None:
            running = cw.Metric(
                namespace="ECS/ContainerInsights",
                metric_name="RunningTaskCount",
                dimensions_map={
                    "ClusterName": qdrant_service.cluster.cluster_name,
                    "ServiceName": qdrant_service.service_name,
                },
                period=Duration.minutes(1),
                statistic="Minimum",
            )
            self.alarms.append(
                running.create_alarm(
                    self,
                    "QdrantDown",
                    threshold=1,
                    comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                    evaluation_periods=5,
                    treat_missing_data=cw.TreatMissingData.BREACHING,
                    alarm_description="no Qdrant task running for 5 minutes (vector routes answer 503)",
                )
            )
        action = cw_actions.SnsAction(topic)
        for alarm in self.alarms:
            alarm.add_alarm_action(action)
