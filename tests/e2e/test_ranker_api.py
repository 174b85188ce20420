"""The learned ranking stage over HTTP: the model named in the response, its fallback reasons,
and the OpenAPI schema declaring the field (fakes for the index and embedder, a real LightGBM
model trained on synthetic rows by evals/ranker.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from app.domain.models import Product
from app.main import Deps, create_app
from app.settings import Settings
from embeddings.ingest import ingest
from evals.ranker import export, train
from tests.fakes import HashingEmbedder, InMemoryVectorIndex
from tests.integration.test_ranker_contract import synthetic

pytestmark = pytest.mark.e2e

PRODUCTS = [
    Product(id="m1", title="wireless mouse", brand="Logitech", category="Keyboards & Mice", price=15.0),
    Product(id="m2", title="gaming mouse", brand="Corsair", category="Keyboards & Mice", price=40.0),
    Product(id="p1", title="mouse pad", brand="Fellowes", category="Accessories", price=5.0),
    Product(id="k1", title="wireless keyboard", brand="Logitech", category="Keyboards & Mice", price=30.0),
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = synthetic()
    params = {"num_leaves": 7, "min_data_in_leaf": 5, "num_boost_round": 20}
    out = tmp_path_factory.mktemp("ranker") / "v-e2e"
    export(
        train(data, list(data.doc_ids), params, list(range(len(data.rows["q0"][0])))),
        out,
        version="v-e2e",
        params=params,
        data=data,
        extra={},
    )
    return out


def client_for(settings: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    index = InMemoryVectorIndex()
    asyncio.run(ingest(PRODUCTS, "shop", HashingEmbedder(), index, model_id="m"))
    with TestClient(create_app(settings, Deps(embedder=HashingEmbedder(), index=index))) as client:
        yield client


def test_a_search_names_the_model_that_ranked_it(model_dir: Path) -> None:
    for client in client_for(Settings(ranker_model=model_dir)):
        body = client.post("/v1/catalogs/shop/search", json={"query": "wireless mouse", "limit": 3}).json()
        assert body["ranker"] == {"model": "v-e2e", "fallback": None}
        assert len(body["items"]) == 3
        assert body["timings_ms"]["rank"] > 0
        similar = client.post("/v1/catalogs/shop/similar", json={"positive": ["m1"]}).json()
        assert similar["ranker"] is None  # similar-items requests are not text-ranked


@pytest.mark.parametrize(
    ("ranker_model", "reason"),
    [(None, "ranker_disabled"), (Path("/nonexistent/model"), "ranker_unavailable")],
)
def test_without_a_model_the_retrieval_order_is_served_and_says_why(
    ranker_model: Path | None, reason: str
) -> None:
    for client in client_for(Settings(ranker_model=ranker_model)):
        body = client.post("/v1/catalogs/shop/search", json={"query": "wireless mouse"}).json()
        assert body["ranker"] == {"model": None, "fallback": reason}
        assert body["items"]


def test_the_schema_declares_the_ranker_field(model_dir: Path) -> None:
    for client in client_for(Settings(ranker_model=model_dir)):
        schema = client.get("/schema/openapi.json").json()
        response = schema["components"]["schemas"]["RetrievalResponse"]["properties"]
        assert "ranker" in response


def test_without_a_learned_model_the_type_boost_can_serve() -> None:
    for client in client_for(Settings(ranker_model=None, type_boost=0.5)):
        body = client.post("/v1/catalogs/shop/search", json={"query": "mouse", "limit": 4}).json()
        assert body["ranker"] == {"model": "type-boost@0.5", "fallback": None}
        categories = [i["category"] for i in body["items"]]
        assert categories.index("Accessories") > 0  # the mouse pad is not a mouse
