"""W3C trace context across Aisle, with the in-memory span exporter: a caller's `traceparent`
makes the server span its child (same trace), reaches the LLM call as the `llm.attempt` span's
traceparent, and names the trace in the canonical log line; a malformed one starts a new trace
(never a 500); with tracing off the caller's context still passes through; the typed client sends
the current span's context."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from litestar import Litestar
from litestar.testing import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aisle.client import Aisle
from app.adapters.memory_cache import MemoryCache
from app.adapters.openai_llm_client import OpenAILLMClient
from app.domain.models import Product
from app.main import Deps, create_app
from app.observability.tracing import build_tracing
from app.settings import Settings
from embeddings.ingest import ingest
from tests.fakes import HashingEmbedder, InMemoryVectorIndex, chat_completion

pytestmark = pytest.mark.e2e
LLM_URL = "http://llm.test/v1"
SEARCH = "/v1/catalogs/shop/search"
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
PRODUCTS = [
    Product(id=f"s{i}", title=f"bluetooth speaker {i}", brand="JBL", price=10.0 + i) for i in range(5)
]
RANKING = chat_completion('{"ranking": ["s3"]}')


def make(exporter: InMemorySpanExporter | None) -> Litestar:
    index = InMemoryVectorIndex()
    asyncio.run(ingest(PRODUCTS, "shop", HashingEmbedder(), index, model_id="m"))
    settings = Settings(llm_base_url=LLM_URL, llm_model="tiny", llm_deadline_ms=2000)
    deps = Deps(HashingEmbedder(), index, OpenAILLMClient(LLM_URL, "k", "tiny"), MemoryCache())
    tracing = build_tracing(settings, exporter) if exporter is not None else None
    return create_app(settings, deps, tracing=tracing)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def client(exporter: InMemorySpanExporter) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(make(exporter)) as client:
        yield client


def server_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    [span] = [
        s for s in exporter.get_finished_spans() if s.name == f"POST {SEARCH.replace('shop', '{catalog}')}"
    ]
    return span


def search_with_llm(client: TestClient, headers: dict[str, Any]) -> tuple[httpx.Response, httpx.Request]:  # type: ignore[type-arg]
    with respx.mock as mock:
        route = mock.post(f"{LLM_URL}/chat/completions")
        route.return_value = httpx.Response(200, json=RANKING)
        response = client.post(SEARCH, json={"query": "bluetooth speaker", "rerank": "llm"}, headers=headers)
    assert response.status_code == 200, response.text
    return response, route.calls[0].request


def parts(traceparent: str) -> tuple[str, str, str, str]:
    version, trace_id, span_id, flags = traceparent.split("-")
    return version, trace_id, span_id, flags


def test_the_server_span_is_the_callers_child_and_the_llm_call_carries_the_trace(
    client: TestClient,  # type: ignore[type-arg]
    exporter: InMemorySpanExporter,
) -> None:
    _, upstream = search_with_llm(client, {"traceparent": TRACEPARENT, "tracestate": "vendor=opaque"})
    root = server_span(exporter)
    assert root.parent is not None
    assert root.parent.is_remote
    assert format(root.parent.span_id, "016x") == CALLER_SPAN
    assert format(root.context.trace_id, "032x") == CALLER_TRACE
    [attempt] = [s for s in exporter.get_finished_spans() if s.name == "llm.attempt"]
    assert format(attempt.context.trace_id, "032x") == CALLER_TRACE
    version, trace_id, span_id, flags = parts(upstream.headers["traceparent"])
    assert (version, trace_id, flags) == ("00", CALLER_TRACE, "01")
    assert span_id == format(attempt.context.span_id, "016x")  # the attempt that made this request
    assert upstream.headers["tracestate"] == "vendor=opaque"


def test_the_log_line_names_the_callers_trace(
    client: TestClient,  # type: ignore[type-arg]
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.log import configure_logging

    configure_logging("info", json=True)
    client.post(SEARCH, json={"query": "speaker"}, headers={"traceparent": TRACEPARENT})
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"request"' in x]
    assert line["trace_id"] == CALLER_TRACE


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"00-{CALLER_TRACE}-{CALLER_SPAN}",  # a field short
        f"00-{'0' * 32}-{CALLER_SPAN}-01",  # the all-zero trace id is invalid
        f"00-{CALLER_TRACE}-{'0' * 16}-01",  # so is the all-zero span id
        f"ff-{CALLER_TRACE}-{CALLER_SPAN}-01",  # version ff is forbidden
        f"00-{CALLER_TRACE.upper()}-{CALLER_SPAN}-01",  # upper-case hex is not W3C
        b"00-\xff\xfe-\x00-01",
        "x" * 8000,
    ],
)
def test_a_malformed_traceparent_starts_a_new_trace_never_a_500(
    client: TestClient,  # type: ignore[type-arg]
    exporter: InMemorySpanExporter,
    header: str | bytes,
) -> None:
    response = client.post(SEARCH, json={"query": "speaker"}, headers={"traceparent": header})
    assert response.status_code == 200
    root = server_span(exporter)
    assert root.parent is None
    assert format(root.context.trace_id, "032x") != CALLER_TRACE


def test_with_tracing_off_the_callers_context_still_reaches_the_llm(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.log import configure_logging

    configure_logging("info", json=True)
    with TestClient(make(None)) as client:
        _, upstream = search_with_llm(client, {"traceparent": TRACEPARENT})
    assert parts(upstream.headers["traceparent"]) == ("00", CALLER_TRACE, CALLER_SPAN, "01")
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"request"' in x]
    assert line["trace_id"] == CALLER_TRACE


def test_without_a_current_span_the_llm_call_has_no_traceparent() -> None:
    with TestClient(make(None)) as client:
        _, upstream = search_with_llm(client, {})
    assert "traceparent" not in upstream.headers


def test_the_typed_client_sends_its_current_span(
    client: TestClient,  # type: ignore[type-arg]
    exporter: InMemorySpanExporter,
) -> None:
    caller = TracerProvider()  # the calling application's own tracing
    caller.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    with caller.get_tracer("assistant").start_as_current_span("assistant.turn") as turn:
        Aisle(http_client=client).search("shop", "speaker")
    root = server_span(exporter)
    assert root.parent is not None
    assert root.parent.span_id == turn.get_span_context().span_id
    assert root.context.trace_id == turn.get_span_context().trace_id
    caller.shutdown()


def test_a_browser_may_send_trace_context_across_origins() -> None:
    settings = Settings(cors_origins=("https://shop.example",))
    with TestClient(create_app(settings, Deps(HashingEmbedder(), InMemoryVectorIndex()))) as client:
        preflight = client.options(
            SEARCH,
            headers={
                "Origin": "https://shop.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "traceparent, tracestate",
            },
        )
    assert preflight.status_code in (200, 204), preflight.text
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "traceparent" in allowed
    assert "tracestate" in allowed
