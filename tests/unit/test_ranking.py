from __future__ import annotations

import numpy as np
import pytest

from app.domain.lexical import terms
from app.domain.models import Product, ScoredProduct
from app.ranking.catalog import CatalogContexts, build_context
from app.ranking.features import FEATURES, RankQuery, extract
from app.ranking.query_types import ProductTypes
from app.ranking.stage import RankingStage, rank_query
from app.search.service import RecommendationService, Retrieval
from embeddings.ingest import ingest
from tests.fakes import HashingEmbedder, InMemoryVectorIndex, LinearRanker

PRODUCTS = [
    Product(
        id="m1",
        title="Logitech M185 wireless mouse",
        brand="Logitech",
        category="Keyboards & Mice",
        price=15.0,
    ),
    Product(
        id="m2",
        title="Corsair Harpoon gaming mouse",
        brand="Corsair",
        category="Keyboards & Mice",
        price=40.0,
    ),
    Product(id="p1", title="Fellowes mouse pad blue", brand="Fellowes", category="Accessories", price=5.0),
    Product(id="c1", title="Targus 15.6in laptop case", brand="Targus", category="Bags & Cases", price=30.0),
    Product(id="l1", title="Lenovo ThinkPad T14 laptop", brand="Lenovo", category="Laptops", price=900.0),
    Product(id="l2", title="HP EliteBook 840 notebook", brand="HP", category="Laptops", price=1100.0),
    Product(
        id="s1", title="JBL Flip 5 bluetooth speaker", brand="JBL", category="Speakers & Audio", price=99.0
    ),
    Product(
        id="u1",
        title="StarTech USB-C cable 1m",
        brand="StarTech.com",
        category="Cables",
        description="USB C to USB C",
        attributes={"connector_1": "USB-C", "cable_length": 1.0},
        price=12.0,
    ),
]
COL = {name: i for i, name in enumerate(FEATURES)}


def context():  # type: ignore[no-untyped-def]
    return build_context(PRODUCTS, {})


def query(text: str, ctx) -> RankQuery:  # type: ignore[no-untyped-def]
    return rank_query(text, None, ctx)


def test_product_types_come_from_category_names_plurals_synonyms_and_the_head_noun() -> None:
    types = ProductTypes(["keyboards & mice", "bags & cases", "laptops", "speakers & audio", "cables"])

    def detect(text: str) -> str | None:
        found = types.detect(tuple(terms(text)))
        return found.category if found else None

    assert detect("bluetooth speakers") == "speakers & audio"  # plural
    assert detect("bluetooth speaker") == "speakers & audio"  # singular, stemmed
    assert detect("gaming mouse") == "keyboards & mice"  # irregular plural via synonym
    assert detect("notebook") == "laptops"  # shopper synonym, used because "laptops" exists
    assert detect("laptop case") == "bags & cases"  # head-final: a case, not a laptop
    assert detect("usb cable") == "cables"
    assert detect("dell") is None
    assert detect("smartwatch") is None  # synonym target absent from this catalog


def test_title_words_name_a_type_when_no_category_is_called_that() -> None:
    ctx = build_context(
        [
            Product(id=str(i), title=f"Manfrotto tripod model {i}", category="Furniture & Mounts")
            for i in range(10)
        ],
        {},
    )
    found = ctx.types.detect(tuple(terms("travel tripod")))
    assert found is not None
    assert (found.category, found.source) == ("furniture & mounts", "title")


def test_features_score_fields_coverage_type_and_brand_per_candidate() -> None:
    ctx = context()
    cands = [ScoredProduct(p, 1.0 / (i + 1)) for i, p in enumerate(PRODUCTS)]
    rows = extract(query("logitech wireless mouse", ctx), cands, ctx.stats)
    assert rows.shape == (len(PRODUCTS), len(FEATURES))
    m1, m2, c1 = rows[0], rows[1], rows[3]
    assert m1[COL["bm25_title"]] > m2[COL["bm25_title"]] > 0 == c1[COL["bm25_title"]]
    assert m1[COL["bm25_brand"]] > 0
    assert m1[COL["bm25f"]] > m2[COL["bm25f"]] > 0 == c1[COL["bm25f"]]
    assert m1[COL["bm25f_rank"]] == 0.0
    assert m1[COL["title_coverage"]] == 1.0
    assert m1[COL["title_all_terms"]] == 1.0
    assert m2[COL["title_coverage"]] == pytest.approx(1 / 3)
    assert m1[COL["brand_in_query"]] == 1.0
    assert m2[COL["brand_in_query"]] == 0.0
    assert m1[COL["type_match"]] == 1.0
    assert c1[COL["type_match"]] == 0.0
    assert (
        m1[COL["phrase_in_title"]] == 0.0
    )  # "logitech m185 wireless mouse" holds no "logitech wireless mouse"
    phrase = extract(query("Wireless  Mouse", ctx), cands[:2], ctx.stats)
    assert list(phrase[:, COL["phrase_in_title"]]) == [1.0, 0.0]
    assert list(rows[:, COL["retrieval_rank"]]) == list(range(len(PRODUCTS)))
    assert m1[COL["bm25_sum_rank"]] == 0.0
    assert np.isnan(m1[COL["dense_cos"]])  # no query vector


def test_hyphenated_tokens_match_their_parts_and_model_numbers_count() -> None:
    ctx = context()
    rows = extract(query("usb c cable", ctx), [ScoredProduct(PRODUCTS[-1], 1.0)], ctx.stats)
    assert rows[0, COL["title_coverage"]] == 1.0
    rows = extract(query("thinkpad t14", ctx), [ScoredProduct(p, 1.0) for p in PRODUCTS[4:6]], ctx.stats)
    assert rows[0, COL["model_match"]] == 1.0
    assert rows[1, COL["model_match"]] == 0.0


def test_a_candidate_newer_than_the_statistics_gets_the_same_features_from_its_payload() -> None:
    ctx = build_context(PRODUCTS[:-1], {})
    full = build_context(PRODUCTS, {})
    newcomer = [ScoredProduct(PRODUCTS[-1], 1.0), ScoredProduct(PRODUCTS[0], 0.5)]
    on_the_fly = extract(query("usb cable", ctx), newcomer, ctx.stats)
    assert on_the_fly[0, COL["title_coverage"]] == 1.0
    assert on_the_fly[0, COL["bm25_title"]] > 0
    known = extract(query("usb cable", full), newcomer, full.stats)
    assert on_the_fly[0, COL["title_terms"]] == known[0, COL["title_terms"]]


def test_dense_cosine_uses_the_catalogs_vectors() -> None:
    vectors = {p.id: [1.0, 0.0] if p.id == "m1" else [0.0, 1.0] for p in PRODUCTS}
    ctx = build_context(PRODUCTS, vectors)
    rows = extract(
        RankQuery("x", ("x",), (1.0, 0.0)), [ScoredProduct(p, 1.0) for p in PRODUCTS[:2]], ctx.stats
    )
    assert list(rows[:, COL["dense_cos"]]) == [1.0, 0.0]
    assert list(rows[:, COL["dense_rank"]]) == [0.0, 1.0]


@pytest.fixture
async def index(embedder: HashingEmbedder, memory_index: InMemoryVectorIndex) -> InMemoryVectorIndex:
    await ingest(PRODUCTS, "shop", embedder, memory_index, model_id="m")
    return memory_index


def service(
    embedder: HashingEmbedder, index: InMemoryVectorIndex, stage: RankingStage
) -> RecommendationService:
    return RecommendationService(embedder, index, None, Retrieval("hybrid"), ranking=stage)


async def test_the_ranking_stage_reorders_candidates_and_names_its_model(
    embedder: HashingEmbedder, index: InMemoryVectorIndex
) -> None:
    # a model that only likes cheap products: the order must follow it, not retrieval
    stage = RankingStage(LinearRanker({"log_price": -1.0}, version="cheap-v1"), CatalogContexts(index))
    assert await stage.prepare("shop")
    result = await service(embedder, index, stage).search("shop", "mouse", limit=3)
    prices = [h.product.price for h in result.items]
    assert prices == sorted(prices)  # type: ignore[type-var]
    assert result.ranker == "cheap-v1"
    assert result.ranker_fallback is None
    assert result.timings.rank_ms > 0


async def test_the_ranker_sees_a_deeper_pool_than_the_page_it_returns(
    embedder: HashingEmbedder, index: InMemoryVectorIndex
) -> None:
    ranker = LinearRanker({"log_price": 1.0})
    stage = RankingStage(ranker, CatalogContexts(index), depth=50)
    await stage.prepare("shop")
    result = await service(embedder, index, stage).search("shop", "laptop", limit=1)
    assert [h.product.id for h in result.items] == ["l2"]  # the most expensive laptop, from deep in the pool


@pytest.mark.parametrize(
    ("stage_kwargs", "reason"),
    [
        ({"ranker": None, "unavailable": "ranker_unavailable"}, "ranker_unavailable"),
        ({"ranker": None}, "ranker_disabled"),
        ({"ranker": LinearRanker({}, fail=True)}, "ranker_error"),
        ({"ranker": LinearRanker({}, features=("other",))}, "ranker_incompatible"),
    ],
)
async def test_without_a_working_model_the_retrieval_order_is_served_with_the_reason(
    embedder: HashingEmbedder, index: InMemoryVectorIndex, stage_kwargs: dict[str, object], reason: str
) -> None:
    plain = await RecommendationService(embedder, index, None, Retrieval("hybrid")).search("shop", "mouse")
    stage = RankingStage(contexts=CatalogContexts(index), **stage_kwargs)  # type: ignore[arg-type]
    await stage.prepare("shop")
    result = await service(embedder, index, stage).search("shop", "mouse")
    assert [h.product.id for h in result.items] == [h.product.id for h in plain.items]
    assert result.ranker is None
    assert result.ranker_fallback is not None
    assert result.ranker_fallback.startswith(reason)


async def test_until_the_catalog_statistics_are_built_the_stage_says_it_is_warming(
    embedder: HashingEmbedder, index: InMemoryVectorIndex
) -> None:
    contexts = CatalogContexts(index)
    stage = RankingStage(LinearRanker({"log_price": -1.0}), contexts)
    first = await service(embedder, index, stage).search("shop", "mouse")
    assert first.ranker_fallback == "ranker_warming"
    assert await contexts.get("shop", wait=True) is not None
    second = await service(embedder, index, stage).search("shop", "mouse")
    assert second.ranker == "fake-linear"


async def test_statistics_are_rebuilt_only_when_the_catalog_changed(
    embedder: HashingEmbedder, index: InMemoryVectorIndex
) -> None:
    contexts = CatalogContexts(index, ttl_s=0.0)
    first = await contexts.get("shop", wait=True)
    await contexts.get("shop", wait=False)  # stale: re-checks the fingerprints, nothing changed
    await _settle(contexts)
    same = await contexts.get("shop", wait=False)
    assert same is first
    await ingest(
        [Product(id="n1", title="new webcam", category="Cameras")], "shop", embedder, index, model_id="m"
    )
    await contexts.get("shop", wait=False)
    await _settle(contexts)
    rebuilt = await contexts.get("shop", wait=False)
    assert rebuilt is not None
    assert rebuilt is not first
    assert "n1" in rebuilt.stats.rows


async def _settle(contexts: CatalogContexts) -> None:
    import asyncio

    for _ in range(100):
        if not contexts._building:
            return
        await asyncio.sleep(0.01)
