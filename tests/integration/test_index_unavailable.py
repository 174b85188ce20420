"""A Qdrant server that cannot be reached is a 503 naming the index, never a 500 or a hang."""

from __future__ import annotations

import asyncio

import pytest
from litestar.testing import TestClient

from app.adapters.qdrant_server_index import QdrantServerIndex
from app.domain.errors import IndexUnavailable
from app.domain.models import VectorQuery
from app.main import Deps, create_app
from app.settings import Settings
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.integration
DOWN = "http://127.0.0.1:1"  # nothing listens on port 1


def test_the_server_adapter_translates_connection_errors() -> None:
    async def run() -> None:
        index = QdrantServerIndex.connect(DOWN, None, timeout_s=2)
        try:
            with pytest.raises(IndexUnavailable):
                await index.query("shop", VectorQuery(positives=([1.0, 0.0],)))
            with pytest.raises(IndexUnavailable):
                await index.catalogs()
        finally:
            await index.close()

    asyncio.run(run())


def test_qdrant_down_is_a_503_on_search_and_readiness() -> None:
    index = QdrantServerIndex.connect(DOWN, None, timeout_s=2)
    with TestClient(create_app(Settings(), Deps(embedder=HashingEmbedder(), index=index))) as client:
        search = client.post("/v1/catalogs/shop/search", json={"query": "usb cable"})
        assert search.status_code == 503
        assert search.json()["error"] == "unavailable"
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
    asyncio.run(index.close())


def test_qdrant_down_is_a_503_on_the_assistant_and_bundles_even_when_streaming() -> None:
    index = QdrantServerIndex.connect(DOWN, None, timeout_s=2)
    with TestClient(create_app(Settings(), Deps(embedder=HashingEmbedder(), index=index))) as client:
        messages = [{"role": "user", "content": "usb cable"}]
        for body in ({"messages": messages}, {"messages": messages, "stream": True}):
            response = client.post("/v1/catalogs/shop/assistant", json=body)
            assert response.status_code == 503
            assert response.json()["error"] == "unavailable"
        bundle = client.post("/v1/catalogs/shop/bundles", json={"anchor_ids": ["a"], "slots": ["cables"]})
        assert bundle.status_code == 503
        assert bundle.json()["error"] == "unavailable"
    asyncio.run(index.close())
