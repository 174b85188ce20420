"""The real parts together: all-MiniLM-L6-v2 from its PyPI package, Qdrant Edge on disk,
qdrant-client `:memory:`, the ingest job, and the HTTP API on top, over real Icecat products."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from app.adapters.edge_index import EdgeVectorIndex
from app.adapters.qdrant_server_index import QdrantServerIndex
from app.adapters.sentence_transformer_embedder import SentenceTransformerEmbedder
from app.adapters.sqlite_store import SQLiteControlStore
from app.bundles.priors import learn_from_catalog
from app.domain.models import Product
from app.main import Deps, create_app
from app.search.service import RecommendationService
from app.settings import Settings
from embeddings.ingest import ingest
from embeddings.readers import read_products

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "icecat-sample.jsonl"
WORDS = ("speaker", "headphone", "camera", "mouse", "keyboard", "laserjet", "toner", "case")


def _subset() -> list[Product]:
    products = [p for p in read_products(SAMPLE) if isinstance(p, Product)]
    themed = {p.id: p for w in WORDS for p in [q for q in products if w in q.title.lower()][:30]}
    rest = [p for p in products if p.id not in themed][:250]
    return [*themed.values(), *rest]


@pytest.fixture(scope="module")
def products() -> list[Product]:
    return _subset()


@pytest.fixture(scope="module")
def model() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(threads=2)


@pytest.fixture(scope="module")
def edge_dir(
    tmp_path_factory: pytest.TempPathFactory, model: SentenceTransformerEmbedder, products: list[Product]
) -> Path:
    path = tmp_path_factory.mktemp("edge")

    async def run() -> None:
        index = EdgeVectorIndex(path)
        summary = await ingest(products, "icecat", model, index, model_id="minilm")
        assert (summary.added, summary.failed) == (len(products), 0)
        await index.close()

    asyncio.run(run())
    return path


def test_the_model_loads_offline_and_returns_unit_vectors(model: SentenceTransformerEmbedder) -> None:
    [vector] = model.embed(["bluetooth speaker"])
    assert len(vector) == model.dimension == 384
    assert math.sqrt(sum(x * x for x in vector)) == pytest.approx(1.0, abs=1e-4)


def test_int8_quantisation_stays_close_to_fp32(model: SentenceTransformerEmbedder) -> None:
    texts = ["bluetooth speaker", "Canon EOS digital camera with 18-55 mm lens", "HP 85 ink cartridge cyan"]
    int8 = SentenceTransformerEmbedder(threads=2, quantize_int8=True)
    for a, b in zip(model.embed(texts), int8.embed(texts), strict=True):
        assert sum(x * y for x, y in zip(a, b, strict=True)) > 0.95


def test_reingesting_an_unchanged_catalog_embeds_nothing(
    edge_dir: Path, model: SentenceTransformerEmbedder, products: list[Product]
) -> None:
    async def run() -> tuple[int, int]:
        index = EdgeVectorIndex(edge_dir)
        try:
            summary = await ingest(products, "icecat", model, index, model_id="minilm")
        finally:
            await index.close()
        return summary.unchanged, summary.embedded

    assert asyncio.run(run()) == (len(products), 0)


def test_search_finds_real_speakers_for_a_speaker_query(
    edge_dir: Path, model: SentenceTransformerEmbedder
) -> None:
    async def run() -> list[str]:
        index = EdgeVectorIndex(edge_dir)
        try:
            result = await RecommendationService(model, index).search("icecat", "bluetooth speaker", limit=5)
        finally:
            await index.close()
        return [h.product.title.lower() for h in result.items]

    titles = asyncio.run(run())
    assert sum("speaker" in t for t in titles) >= 3, titles


def test_edge_and_qdrant_client_return_the_same_ranking(
    edge_dir: Path, model: SentenceTransformerEmbedder, products: list[Product]
) -> None:
    async def run() -> tuple[list[str], list[str]]:
        edge = EdgeVectorIndex(edge_dir)
        server = QdrantServerIndex.connect(":memory:", None)
        try:
            await ingest(products, "icecat", model, server, model_id="minilm")
            queries = ("wireless mouse", "noise cancelling headphones", "usb cable")
            a, b = [], []
            for q in queries:
                a += [
                    h.product.id for h in (await RecommendationService(model, edge).search("icecat", q)).items
                ]
                b += [
                    h.product.id
                    for h in (await RecommendationService(model, server).search("icecat", q)).items
                ]
            return a, b
        finally:
            await edge.close()
            await server.close()

    edge_ids, server_ids = asyncio.run(run())
    assert edge_ids == server_ids


@pytest.fixture
def client(
    edge_dir: Path, model: SentenceTransformerEmbedder, products: list[Product]
) -> Iterator[TestClient]:  # type: ignore[type-arg]
    index = EdgeVectorIndex(edge_dir)
    store = SQLiteControlStore(edge_dir / "control.db")
    asyncio.run(store.migrate())
    asyncio.run(store.put("icecat", learn_from_catalog(products)))
    deps = Deps(embedder=model, index=index, store=store)
    with TestClient(create_app(Settings(data_dir=edge_dir), deps)) as client:
        yield client
    asyncio.run(index.close())
    asyncio.run(store.close())


def test_the_http_api_serves_real_search_and_similar_items(client: TestClient) -> None:  # type: ignore[type-arg]
    search = client.post("/v1/catalogs/icecat/search", json={"query": "bluetooth speaker", "limit": 3})
    assert search.status_code == 200
    top = search.json()["items"][0]
    similar = client.post("/v1/catalogs/icecat/similar", json={"positive": [top["id"]], "limit": 3}).json()
    assert top["id"] not in [i["id"] for i in similar["items"]]
    assert any("speaker" in i["title"].lower() for i in similar["items"])
    assert client.get("/readyz").status_code == 200


def test_real_bundles_complete_a_printer_from_the_learned_map(
    client: TestClient, products: list[Product]
) -> None:  # type: ignore[type-arg]
    printer = next(
        p for p in products if p.category == "Printers & Scanners" and "laserjet" in p.title.lower()
    )
    body = client.post(
        "/v1/catalogs/icecat/bundles", json={"anchor_ids": [printer.id], "max_items": 3}
    ).json()
    assert body["plan"]["source"] == "learned"
    assert body["plan"]["slots"][0] == "ink & toner"
    filled = [s for s in body["slots"] if s["item"]]
    assert filled
    assert all(s["item"]["in_stock"] and s["item"]["id"] != printer.id for s in filled)
    assert {s["item"]["category"].casefold() for s in filled} <= set(body["plan"]["slots"])
    assert body["total_price"] == round(sum(s["item"]["price"] or 0 for s in filled), 2)
    assert body["fallback"] == {"reason": "llm_disabled"}
    assert body["rationale"]
