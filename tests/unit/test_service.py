from __future__ import annotations

import pytest

from app.domain.errors import CatalogNotFound, InvalidRequest, ProductNotFound
from app.domain.models import Filters, Product
from app.search.service import RecommendationService
from embeddings.ingest import ingest
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

CATALOG = [
    Product(id="spk1", title="portable bluetooth speaker", brand="JBL", category="Speakers", price=49.0),
    Product(id="spk2", title="waterproof bluetooth speaker", brand="Sony", category="Speakers", price=89.0),
    Product(
        id="hp1", title="bluetooth headphones over ear", brand="Sony", category="Headphones", price=120.0
    ),
    Product(id="cbl1", title="usb c cable braided", brand="Anker", category="Cables", price=9.0),
]


@pytest.fixture
async def service(embedder: HashingEmbedder, memory_index: InMemoryVectorIndex) -> RecommendationService:
    await ingest(CATALOG, "shop", embedder, memory_index, model_id="m")
    return RecommendationService(embedder, memory_index)


async def test_search_returns_the_closest_products_with_stage_timings(service: RecommendationService) -> None:
    result = await service.search("shop", "bluetooth speaker", limit=2)
    assert {h.product.id for h in result.items} == {"spk1", "spk2"}
    assert result.timings.total_ms >= result.timings.embed_ms >= 0


async def test_search_applies_filters(service: RecommendationService) -> None:
    result = await service.search("shop", "bluetooth", filters=Filters(brand=("sony",), price_max=100.0))
    assert [h.product.id for h in result.items] == ["spk2"]


@pytest.mark.parametrize("query", ["", "   \n\t"])
async def test_a_blank_query_is_invalid(service: RecommendationService, query: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await service.search("shop", query)
    assert caught.value.field == "query"


async def test_search_on_an_unknown_catalog_is_not_found(service: RecommendationService) -> None:
    with pytest.raises(CatalogNotFound):
        await service.search("other", "speaker")


async def test_similar_never_returns_its_inputs(service: RecommendationService) -> None:
    result = await service.similar("shop", ["spk1"], limit=10)
    ids = [h.product.id for h in result.items]
    assert "spk1" not in ids
    assert ids[0] == "spk2"


async def test_similar_moves_away_from_negatives(service: RecommendationService) -> None:
    result = await service.similar("shop", ["spk1"], ["hp1"], limit=10)
    ids = [h.product.id for h in result.items]
    assert "hp1" not in ids
    assert ids[0] == "spk2"


async def test_similar_names_the_missing_ids(service: RecommendationService) -> None:
    with pytest.raises(ProductNotFound) as caught:
        await service.similar("shop", ["spk1", "ghost"], ["phantom"])
    assert caught.value.product_ids == ["ghost", "phantom"]


async def test_an_id_cannot_be_both_positive_and_negative(service: RecommendationService) -> None:
    with pytest.raises(InvalidRequest):
        await service.similar("shop", ["spk1"], ["spk1"])


async def test_contradictory_price_filters_are_invalid() -> None:
    with pytest.raises(InvalidRequest):
        Filters(price_min=10.0, price_max=5.0)
