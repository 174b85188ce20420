"""OpenTelemetry tracing, off by default.

`build_tracing(settings, exporter=None)` returns the `Tracer` the app passes down (a no-op tracer
unless tracing is on). On when an OTLP endpoint is configured by the standard variables
(`OTEL_EXPORTER_OTLP_ENDPOINT` / `..._TRACES_ENDPOINT`, `OTEL_SERVICE_NAME`, headers, ...), which the
OTLP exporter reads itself; tests pass an in-memory exporter. The provider is the app's own, not the
process-global one, so several apps (tests) never share spans.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

from app.settings import Settings


@dataclass(frozen=True, slots=True)
class Tracing:
    tracer: trace.Tracer
    provider: TracerProvider | None = None

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def build_tracing(settings: Settings, exporter: SpanExporter | None = None) -> Tracing:
    if exporter is None and not settings.otel_enabled:
        return Tracing(trace.NoOpTracer())
    provider = TracerProvider(resource=Resource.create({"service.name": "aisle"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return Tracing(provider.get_tracer("aisle"), provider)
