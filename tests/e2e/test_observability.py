"""Metrics at /metrics and the trace span tree, over HTTP, with an in-memory span exporter."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
import respx
from litestar.testing import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

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
PRODUCTS = [
    Product(id=f"s{i}", title=f"bluetooth speaker {i}", brand="JBL", price=10.0 + i) for i in range(5)
]
COMPLETION = chat_completion('{"ranking": ["s3"]}', prompt_tokens=40, completion_tokens=5)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def client(exporter: InMemorySpanExporter) -> Iterator[TestClient]:  # type: ignore[type-arg]
    index = InMemoryVectorIndex()
    asyncio.run(ingest(PRODUCTS, "shop", HashingEmbedder(), index, model_id="m"))
    settings = Settings(llm_base_url=LLM_URL, llm_model="tiny", llm_deadline_ms=500)
    deps = Deps(HashingEmbedder(), index, OpenAILLMClient(LLM_URL, "k", "tiny"), MemoryCache())
    with TestClient(create_app(settings, deps, tracing=build_tracing(settings, exporter))) as client:
        yield client


def search(client: TestClient, **body: object) -> dict[str, object]:  # type: ignore[type-arg]
    response = client.post("/v1/catalogs/shop/search", json={"query": "bluetooth speaker", **body})
    assert response.status_code == 200
    result: dict[str, object] = response.json()
    return result


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_metrics_count_requests_llm_outcomes_cache_and_index_size(client: TestClient) -> None:  # type: ignore[type-arg]
    with respx.mock as mock:
        mock.post(f"{LLM_URL}/chat/completions").return_value = httpx.Response(200, json=COMPLETION)
        search(client, rerank="llm")
        search(client, rerank="llm")
        mock.post(f"{LLM_URL}/chat/completions").return_value = httpx.Response(503, json={})
        search(client, rerank="llm", query="another query")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert metric(text, 'aisle_llm_requests_total{outcome="ok"}') == 2
    assert metric(text, 'aisle_llm_requests_total{outcome="server_error"}') == 1
    assert metric(text, 'aisle_llm_requests_total{outcome="timeout"}') == 0  # exported as zero
    assert metric(text, 'aisle_llm_cache_requests_total{backend="memory",result="hit"}') == 1
    assert metric(text, "aisle_llm_tokens_total") == 45
    assert metric(text, 'aisle_index_products{catalog="shop"}') == 5
    assert metric(text, "aisle_llm_breaker_state") == 0
    assert (
        metric(
            text,
            'aisle_http_request_duration_seconds_count{method="POST",route="/v1/catalogs/{catalog}/search",status="200"}',
        )
        == 3
    )


def test_a_search_with_the_llm_produces_one_span_tree(
    client: TestClient, exporter: InMemorySpanExporter
) -> None:  # type: ignore[type-arg]
    with respx.mock as mock:
        mock.post(f"{LLM_URL}/chat/completions").return_value = httpx.Response(200, json=COMPLETION)
        search(client, rerank="llm")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    root = spans["POST /v1/catalogs/{catalog}/search"]
    assert root.parent is None
    for child in ("embed_query", "vector_search", "llm.cache_lookup", "llm.attempt"):
        assert spans[child].parent is not None
        assert spans[child].parent.span_id == root.context.span_id, child
        assert spans[child].context.trace_id == root.context.trace_id
    attempt = spans["llm.attempt"].attributes or {}
    assert (attempt["llm.model"], attempt["llm.prompt"], attempt["llm.outcome"]) == (
        "tiny",
        "rerank/v1",
        "ok",
    )
    assert attempt["llm.prompt_tokens"] == 40
    assert (spans["vector_search"].attributes or {})["aisle.catalog"] == "shop"
    assert (root.attributes or {})["http.response.status_code"] == 200


def test_the_log_line_carries_the_trace_id(
    client: TestClient,
    capsys: pytest.CaptureFixture[str],  # type: ignore[type-arg]
    exporter: InMemorySpanExporter,
) -> None:
    from app.log import configure_logging

    configure_logging("info", json=True)
    search(client)
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"request"' in x]
    root = next(s for s in exporter.get_finished_spans() if s.parent is None)
    assert line["trace_id"] == format(root.context.trace_id, "032x")


def test_tracing_is_off_by_default() -> None:
    tracing = build_tracing(Settings())
    assert tracing.provider is None
    enabled = build_tracing(Settings(otel_enabled=True))
    assert enabled.provider is not None
    enabled.shutdown()
