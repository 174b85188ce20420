"""Edge middleware: request id, the request's trace span, its latency metric, and one canonical
log line per request.

Handlers add what they know (catalog, result count, stage timings, fallback) with
`structlog.contextvars.bind_contextvars`; this middleware merges it into the single line it logs
when the response is done, so a request is one grep away. The request span is current while the
handler runs, so use-case spans (embed, search, LLM attempts) become its children, and its trace
id is bound into the log line. A caller's W3C trace context (`traceparent`, `tracestate`) makes it
a child of the caller's span, in the caller's trace (a malformed header is ignored: a new trace).
"""

from __future__ import annotations

import contextvars
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter

from app.observability.metrics import UNMATCHED_ROUTE, Metrics, http_method

log = structlog.get_logger("aisle.request")
# A per-request dict shared by reference: a streamed body runs in another task with a copy of the
# context, so what it binds with contextvars would be lost; what it `annotate`s reaches the line.
_FIELDS: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "aisle_log_fields", default=None
)


def annotate(**fields: Any) -> None:
    """Add fields to this request's canonical log line (from a handler or a streamed body)."""
    structlog.contextvars.bind_contextvars(**fields)
    shared = _FIELDS.get()
    if shared is not None:
        shared.update(fields)


_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_ROUTES = {"/healthz", "/readyz", "/metrics"}


def _incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


class _AsgiHeaders(Getter[Iterable[tuple[bytes, bytes]]]):
    """Reads ASGI's raw header pairs (lower-case names) for OpenTelemetry's propagators."""

    def get(self, carrier: Iterable[tuple[bytes, bytes]], key: str) -> list[str] | None:
        name = key.lower().encode("latin-1")
        values = [value.decode("latin-1") for header, value in carrier if header == name]
        return values or None

    def keys(self, carrier: Iterable[tuple[bytes, bytes]]) -> list[str]:
        return [header.decode("latin-1") for header, _ in carrier]


_HEADERS = _AsgiHeaders()


def caller_context(scope: Scope) -> Context:
    """The caller's trace context, by the configured propagators (W3C trace context and baggage
    unless OTEL_PROPAGATORS says otherwise); empty when none or malformed (they never raise)."""
    return propagate.extract(scope.get("headers", []), getter=_HEADERS)


def request_middleware(tracer: trace.Tracer, metrics: Metrics) -> Callable[[ASGIApp], ASGIApp]:
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            request_id = _incoming_request_id(scope)
            # Both name the span and label the metric: a template (a closed set), never the raw path.
            route = scope.get("path_template") or UNMATCHED_ROUTE
            method = http_method(str(scope.get("method")))
            structlog.contextvars.clear_contextvars()
            fields: dict[str, Any] = {}
            token = _FIELDS.set(fields)
            status = 500
            start = time.perf_counter()

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    headers = list(message.get("headers", []))
                    headers.append((b"x-request-id", request_id.encode()))
                    # Time in this process until the response starts (admission wait included): lets a
                    # client or a benchmark tell server time from its own and the network's.
                    took = (time.perf_counter() - start) * 1000.0
                    headers.append((b"server-timing", f"app;dur={took:.1f}".encode()))
                    message["headers"] = headers
                await send(message)

            with tracer.start_as_current_span(
                f"{method} {route}", context=caller_context(scope), kind=trace.SpanKind.SERVER
            ) as span:
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("aisle.request_id", request_id)
                context = span.get_span_context()
                structlog.contextvars.bind_contextvars(
                    request_id=request_id,
                    method=method,
                    route=route,
                    **({"trace_id": format(context.trace_id, "032x")} if context.is_valid else {}),
                )
                try:
                    await app(scope, receive, send_with_id)
                finally:
                    seconds = time.perf_counter() - start
                    span.set_attribute("http.response.status_code", status)
                    metrics.observe_request(route, method, status, seconds)
                    quiet = route in _QUIET_ROUTES and status < 400
                    emit = log.debug if quiet else log.info
                    emit(
                        "request",
                        **fields,
                        status=status,
                        duration_ms=round(seconds * 1000.0, 3),
                        path=scope.get("path"),
                    )
                    structlog.contextvars.clear_contextvars()
                    _FIELDS.reset(token)

        return middleware

    return factory
