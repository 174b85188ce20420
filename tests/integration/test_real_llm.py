"""A real LLM end to end: the openai client against llama.cpp's OpenAI-compatible server
(xllamacpp) running SmolLM2-135M-Instruct, through `/search` with `rerank=llm` and `explain`.

A 135M model answers poorly; what must hold is that every response is either a valid LLM result
(ids from the candidates only, complete, no duplicates) or the vector result flagged with why.
One request can take seconds on a busy 2-core box, hence the generous deadline and few requests.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from app.adapters.edge_index import EdgeVectorIndex
from app.adapters.memory_cache import MemoryCache
from app.adapters.openai_llm_client import OpenAILLMClient
from app.adapters.sentence_transformer_embedder import SentenceTransformerEmbedder
from app.domain.models import Product
from app.main import Deps, create_app
from app.settings import Settings
from embeddings.ingest import ingest
from embeddings.readers import read_products

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "icecat-sample.jsonl"
QUERIES = ["bluetooth speaker", "wireless mouse", "usb cable"]
VALID_FALLBACKS = {
    "timeout",
    "invalid_output",
    "server_error",
    "rate_limited",
    "connection_error",
    "prompt_echo",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "scripts.llm_server", "--port", str(port), "--threads", "2"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.25)
        else:
            pytest.fail("the llama.cpp server did not start within 60 s")
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def client(llm_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:  # type: ignore[type-arg]
    products = [p for p in read_products(SAMPLE) if isinstance(p, Product)]
    words = ("speaker", "mouse", "usb")
    subset = [p for w in words for p in [q for q in products if w in q.title.lower()][:25]]
    embedder = SentenceTransformerEmbedder(threads=1)
    index = EdgeVectorIndex(tmp_path_factory.mktemp("edge"))
    asyncio.run(ingest(subset, "icecat", embedder, index, model_id="minilm"))
    llm = OpenAILLMClient(llm_url, "unused", "smollm2")
    settings = Settings(llm_base_url=llm_url, llm_model="smollm2", llm_deadline_ms=90_000, llm_candidates=6)
    with TestClient(
        create_app(settings, Deps(embedder=embedder, index=index, llm=llm, cache=MemoryCache())), timeout=120
    ) as client:
        yield client
    asyncio.run(index.close())


def _check(body: dict[str, object], pool: list[str]) -> None:
    """`pool` is a deeper vector result: equal fused scores may swap items at the cut-off between
    two calls, so membership is checked against the pool, not an exact list."""
    ids = [i["id"] for i in body["items"]]  # type: ignore[index,union-attr]
    assert len(ids) == len(set(ids)) == 6
    assert set(ids) <= set(pool), "the LLM may only re-order the vector candidates"
    if body["ranking"] == "llm":
        assert body["fallback"] is None
    else:
        assert body["fallback"]["reason"] in VALID_FALLBACKS  # type: ignore[index]


@pytest.mark.parametrize("query", QUERIES)
def test_the_real_model_re_ranks_validly_or_falls_back_with_a_reason(client: TestClient, query: str) -> None:  # type: ignore[type-arg]
    vector = client.post(
        "/v1/catalogs/icecat/search", json={"query": query, "limit": 20, "rerank": "none"}
    ).json()
    vector_ids = [i["id"] for i in vector["items"]]
    body = client.post(
        "/v1/catalogs/icecat/search", json={"query": query, "limit": 6, "rerank": "llm"}
    ).json()
    _check(body, vector_ids)
    again = client.post(
        "/v1/catalogs/icecat/search", json={"query": query, "limit": 6, "rerank": "llm"}
    ).json()
    if body["ranking"] == "llm":
        assert again["cache"] == "hit"
        assert [i["id"] for i in again["items"]] == [i["id"] for i in body["items"]]


def test_the_real_model_explains_only_returned_products(client: TestClient) -> None:  # type: ignore[type-arg]
    body = client.post(
        "/v1/catalogs/icecat/search",
        json={"query": "bluetooth speaker", "limit": 3, "rerank": "none", "explain": True},
    ).json()
    assert body["ranking"] == "vector"
    if body["fallback"] is None:
        assert any(i.get("reason") for i in body["items"])
    elif body["fallback"]["reason"] == "ungrounded_reason":  # some reasons were not grounded: left out
        assert not all(i.get("reason") for i in body["items"])
    else:
        assert body["fallback"]["reason"] in VALID_FALLBACKS
        assert all("reason" not in i for i in body["items"])


ASSISTANT_FALLBACKS = VALID_FALLBACKS | {
    "ungrounded_reply",
    "ungrounded_intent",
    "ungrounded_reason",
    "empty_llm_intent",
}


def test_a_real_conversation_with_the_assistant_stays_grounded(client: TestClient) -> None:  # type: ignore[type-arg]
    """Three turns against the real model; the last one streamed. Whatever the small model says,
    every answer cites only returned products and every fallback names its reason."""
    shown = client.post("/v1/catalogs/icecat/search", json={"query": "speaker", "limit": 75}).json()
    catalog_brands = {i["brand"].casefold() for i in shown["items"]}
    turns: list[dict[str, str]] = []
    for n, text in enumerate(("show me bluetooth speakers", "under $50", "only Philips please")):
        turns.append({"role": "user", "content": text})
        stream = n == 2
        response = client.post(
            "/v1/catalogs/icecat/assistant", json={"messages": turns, "limit": 3, "stream": stream}
        )
        assert response.status_code == 200
        if stream:
            events = [b for b in response.text.replace("\r\n", "\n").split("\n\n") if b.strip()]
            assert events[0].startswith("event: items")
            assert events[-1].startswith("event: done")
            body = json.loads(events[-1].split("data: ", 1)[1])
        else:
            body = response.json()
        assert body["items"], body
        assert "[" not in body["reply"]
        assert body["reply"]
        if body["fallback"] is not None:
            assert body["fallback"]["reason"] in ASSISTANT_FALLBACKS
        assert set(body["intent"]["filters"].get("brand", [])) <= catalog_brands | {"philips"}
        turns.append({"role": "assistant", "content": body["reply"]})
        print(json.dumps({k: body[k] for k in ("reply", "intent", "fallback", "timings_ms")}))
