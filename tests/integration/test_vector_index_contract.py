"""One contract, every VectorIndex: the in-memory fake, Qdrant Edge, and qdrant-client `:memory:`.

Filters, scoring order, payload round-trips and errors must behave identically on all of them;
a new adapter gets one fixture here.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from app.adapters.edge_index import EdgeVectorIndex
from app.adapters.qdrant_server_index import QdrantServerIndex
from app.domain.errors import CatalogNotFound, IndexIncompatible, IndexLocked
from app.domain.models import Filters, Fusion, IndexRecord, Product, SparseVector, VectorQuery
from app.ports import VectorIndex
from tests.fakes import InMemoryVectorIndex

pytestmark = pytest.mark.integration

CATALOG = "shop"
ROOT = Path(__file__).resolve().parents[2]


def record(
    pid: str, vector: list[float], terms: dict[int, float] | None = None, **fields: object
) -> IndexRecord:
    defaults: dict[str, object] = {
        "title": f"product {pid}",
        "brand": "Acme",
        "category": "Cables",
        "price": 10.0,
    }
    defaults.update(fields)
    sparse = SparseVector(tuple(sorted(terms)), tuple(terms[t] for t in sorted(terms))) if terms else None
    return IndexRecord(Product(id=pid, **defaults), vector, f"hash-{pid}", sparse)  # type: ignore[arg-type]


def lexical(*terms: int) -> SparseVector:
    return SparseVector(tuple(sorted(terms)), tuple(1.0 for _ in terms))


# Lexical terms: 1 common ("speaker"), 2 rare ("waterproof"), 3 ("cable"), 4 ("usb"), 5 ("braided").
PRODUCTS = [
    record("a", [1.0, 0.0, 0.0, 0.0], {1: 1.0}, brand="Sony", category="Headphones", price=99.5),
    record("b", [0.9, 0.1, 0.0, 0.0], {1: 1.0, 4: 0.5}, brand="JBL", category="Speakers", price=49.0),
    record(
        "c",
        [0.7, 0.7, 0.0, 0.0],
        {1: 1.0, 2: 1.0},
        brand="sony",
        category="Speakers",
        price=20.0,
        in_stock=False,
    ),
    record("d", [0.0, 1.0, 0.0, 0.0], {3: 1.0, 4: 1.0}, brand="Anker", category="Cables", price=None),
    record(
        "e",
        [0.0, 0.0, 1.0, 0.0],
        {3: 1.0, 4: 1.0, 5: 1.0},
        brand="Anker",
        category="cables",
        price=5.0,
        attributes={"colour": "Black", "length": 2.0, "rohs": True},
        description="A braided USB-C cable",
    ),
]


@pytest.fixture(params=["in-memory-fake", "qdrant-edge", "qdrant-client-memory"])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorIndex]:
    adapter: VectorIndex
    if request.param == "in-memory-fake":
        adapter = InMemoryVectorIndex()
    elif request.param == "qdrant-edge":
        adapter = EdgeVectorIndex(tmp_path)
    else:
        adapter = QdrantServerIndex.connect(":memory:", None)
    yield adapter
    await adapter.close()


@pytest.fixture
async def filled(index: VectorIndex) -> VectorIndex:
    await index.ensure_catalog(CATALOG, 4)
    await index.upsert(CATALOG, PRODUCTS)
    return index


async def ids(
    index: VectorIndex, vector: list[float], filters: Filters = Filters(), limit: int = 10
) -> list[str]:
    hits = await index.query(CATALOG, VectorQuery(positives=(vector,), filters=filters, limit=limit))
    return [h.product.id for h in hits]


async def test_query_returns_nearest_first_with_cosine_scores(filled: VectorIndex) -> None:
    hits = await filled.query(CATALOG, VectorQuery(positives=([1.0, 0.0, 0.0, 0.0],), limit=3))
    assert [h.product.id for h in hits] == ["a", "b", "c"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[1].score == pytest.approx(0.9 / (0.82**0.5), abs=1e-5)


async def test_payload_round_trips_every_product_field(filled: VectorIndex) -> None:
    hits = await filled.query(CATALOG, VectorQuery(positives=([0.0, 0.0, 1.0, 0.0],), limit=1))
    assert hits[0].product == PRODUCTS[4].product


async def test_category_and_brand_filters_match_case_insensitively(filled: VectorIndex) -> None:
    assert sorted(await ids(filled, [1, 0, 0, 0], Filters(category=("CABLES",)))) == ["d", "e"]
    assert sorted(await ids(filled, [1, 0, 0, 0], Filters(brand=("Sony",)))) == ["a", "c"]
    assert sorted(await ids(filled, [1, 0, 0, 0], Filters(brand=("jbl", "anker")))) == ["b", "d", "e"]


async def test_price_range_is_inclusive_and_excludes_unpriced_products(filled: VectorIndex) -> None:
    assert sorted(await ids(filled, [1, 0, 0, 0], Filters(price_min=20.0, price_max=49.0))) == ["b", "c"]
    assert sorted(await ids(filled, [1, 0, 0, 0], Filters(price_max=20.0))) == ["c", "e"]
    assert "d" not in await ids(filled, [0, 1, 0, 0], Filters(price_min=0.0))


async def test_in_stock_and_exclude_ids_filters_combine_with_the_others(filled: VectorIndex) -> None:
    assert "c" not in await ids(filled, [0.7, 0.7, 0, 0], Filters(in_stock=True))
    assert await ids(filled, [0.7, 0.7, 0, 0], Filters(in_stock=False)) == ["c"]
    assert await ids(filled, [1, 0, 0, 0], Filters(exclude_ids=("a", "b"), brand=("sony", "jbl"))) == ["c"]


async def test_excluded_brands_and_categories_match_case_insensitively(filled: VectorIndex) -> None:
    probe = [1.0, 0.0, 0.0, 0.0]
    assert sorted(await ids(filled, probe, Filters(exclude_brand=("SONY",)))) == ["b", "d", "e"]
    assert sorted(await ids(filled, probe, Filters(exclude_category=("cables", "Headphones")))) == ["b", "c"]
    assert await ids(filled, probe, Filters(category=("Speakers",), exclude_brand=("jbl",))) == ["c"]


async def test_negative_examples_push_their_neighbours_down(filled: VectorIndex) -> None:
    query = VectorQuery(
        positives=([1.0, 0.0, 0.0, 0.0],),
        negatives=([0.0, 1.0, 0.0, 0.0],),
        limit=5,
        filters=Filters(exclude_ids=("a",)),
    )
    order = [h.product.id for h in await filled.query(CATALOG, query)]
    assert order[0] == "b"
    assert order.index("d") > order.index("c")


async def test_retrieve_returns_vectors_and_hashes_and_skips_missing_ids(filled: VectorIndex) -> None:
    records = {r.product.id: r for r in await filled.retrieve(CATALOG, ["e", "missing", "b"])}
    assert set(records) == {"e", "b"}
    assert records["e"].content_hash == "hash-e"
    assert list(records["e"].vector) == pytest.approx([0.0, 0.0, 1.0, 0.0], abs=1e-6)


async def test_upsert_replaces_a_product_and_delete_removes_it(filled: VectorIndex) -> None:
    await filled.upsert(CATALOG, [record("a", [0.0, 0.0, 0.0, 1.0], title="renamed")])
    hits = await filled.query(CATALOG, VectorQuery(positives=([0.0, 0.0, 0.0, 1.0],), limit=1))
    assert (hits[0].product.id, hits[0].product.title) == ("a", "renamed")
    await filled.delete(CATALOG, ["a", "b"])
    assert set(await filled.fingerprints(CATALOG)) == {"c", "d", "e"}


async def test_a_query_after_a_write_sees_it_even_for_products_read_before(filled: VectorIndex) -> None:
    # The Edge adapter keeps decoded products between queries (app/adapters/edge_products.py).
    near_a = VectorQuery(positives=([1.0, 0.0, 0.0, 0.0],), limit=5)
    assert (await filled.query(CATALOG, near_a))[0].product.title == "product a"
    await filled.upsert(CATALOG, [record("a", [1.0, 0.0, 0.0, 0.0], title="renamed", price=1.0)])
    hit = (await filled.query(CATALOG, near_a))[0]
    assert (hit.product.id, hit.product.title, hit.product.price, hit.content_hash) == (
        "a",
        "renamed",
        1.0,
        "hash-a",
    )
    await filled.delete(CATALOG, ["a"])
    assert "a" not in [h.product.id for h in await filled.query(CATALOG, near_a)]


async def test_catalogs_lists_names_with_product_counts(filled: VectorIndex) -> None:
    await filled.ensure_catalog("empty", 4)
    listed = {c.name: c.product_count for c in await filled.catalogs()}
    assert listed == {"shop": 5, "empty": 0}


async def test_facet_counts_categories_and_brands_by_filter_key(filled: VectorIndex) -> None:
    assert await filled.facet(CATALOG, "category") == {"cables": 2, "speakers": 2, "headphones": 1}
    assert await filled.facet(CATALOG, "brand") == {"sony": 2, "anker": 2, "jbl": 1}
    assert len(await filled.facet(CATALOG, "brand", limit=1)) == 1
    with pytest.raises(CatalogNotFound):
        await filled.facet("nope", "brand")


async def test_fingerprints_map_every_product_to_its_content_hash(filled: VectorIndex) -> None:
    assert await filled.fingerprints(CATALOG) == {p.product.id: p.content_hash for p in PRODUCTS}


async def test_fingerprints_page_through_large_catalogs(index: VectorIndex) -> None:
    await index.ensure_catalog(CATALOG, 4)
    await index.upsert(CATALOG, [record(str(i), [1.0, float(i % 7), 0.5, 0.0]) for i in range(2500)])
    assert len(await index.fingerprints(CATALOG)) == 2500


async def test_unknown_catalog_raises_catalog_not_found(index: VectorIndex) -> None:
    with pytest.raises(CatalogNotFound):
        await index.query("nope", VectorQuery(positives=([1.0, 0.0, 0.0, 0.0],)))
    with pytest.raises(CatalogNotFound):
        await index.retrieve("nope", ["a"])
    with pytest.raises(CatalogNotFound):
        await index.fingerprints("nope")


async def test_ensure_catalog_is_idempotent_but_rejects_another_dimension(filled: VectorIndex) -> None:
    await filled.ensure_catalog(CATALOG, 4)
    assert len(await filled.fingerprints(CATALOG)) == 5
    with pytest.raises(IndexIncompatible):
        await filled.ensure_catalog(CATALOG, 8)


async def test_optimize_keeps_every_product_searchable(filled: VectorIndex) -> None:
    await filled.optimize(CATALOG)
    found = await ids(filled, [1, 0, 0, 0], limit=10)
    assert found[:3] == ["a", "b", "c"]
    assert sorted(found) == ["a", "b", "c", "d", "e"]


async def test_edge_index_survives_a_restart(tmp_path: Path) -> None:
    first = EdgeVectorIndex(tmp_path)
    await first.ensure_catalog(CATALOG, 4)
    await first.upsert(CATALOG, PRODUCTS)
    await first.close()
    second = EdgeVectorIndex(tmp_path)
    try:
        assert await second.fingerprints(CATALOG) == {p.product.id: p.content_hash for p in PRODUCTS}
        assert [c.name for c in await second.catalogs()] == [CATALOG]
    finally:
        await second.close()


async def lexical_ids(index: VectorIndex, query: SparseVector, filters: Filters = Filters()) -> list[str]:
    hits = await index.query(CATALOG, VectorQuery(positives=(), sparse=query, filters=filters, limit=10))
    return [h.product.id for h in hits]


async def test_lexical_search_weights_rare_terms_by_idf(filled: VectorIndex) -> None:
    assert (await lexical_ids(filled, lexical(1, 2)))[0] == "c"  # the only one with the rare term
    assert sorted(await lexical_ids(filled, lexical(1))) == ["a", "b", "c"]
    assert (await lexical_ids(filled, lexical(3, 5)))[0] == "e"


async def test_lexical_search_honours_filters_and_matches_nothing_without_terms(filled: VectorIndex) -> None:
    assert await lexical_ids(filled, lexical(1), Filters(brand=("sony",), in_stock=True)) == ["a"]
    assert await lexical_ids(filled, lexical(99)) == []
    assert await lexical_ids(filled, SparseVector((), ())) == []


async def test_hybrid_fuses_dense_and_lexical_lists_by_weighted_rrf(filled: VectorIndex) -> None:
    async def hybrid(dense_weight: float, sparse_weight: float) -> list[str]:
        fusion = Fusion(k=3, dense_weight=dense_weight, sparse_weight=sparse_weight, depth=3)
        query = VectorQuery(positives=([1.0, 0.0, 0.0, 0.0],), sparse=lexical(3, 5), fusion=fusion, limit=3)
        return [h.product.id for h in await filled.query(CATALOG, query)]

    # dense top-3: a, b, c; lexical: e, d. Score per list: 1 / ((rank + 1) / weight + k - 1).
    assert await hybrid(1.5, 1.0) == ["a", "e", "b"]  # .375, .333, .300
    assert await hybrid(1.0, 1.5) == ["e", "a", "d"]  # .375, .333, .300
    assert await hybrid(1.0, 0.0) == ["a", "b", "c"]  # lexical off: the dense order


async def test_hybrid_applies_filters_to_both_lists(filled: VectorIndex) -> None:
    query = VectorQuery(
        positives=([1.0, 0.0, 0.0, 0.0],), sparse=lexical(3, 5), filters=Filters(brand=("anker",))
    )
    assert sorted(h.product.id for h in await filled.query(CATALOG, query)) == ["d", "e"]


async def test_an_empty_lexical_part_leaves_hybrid_as_dense(filled: VectorIndex) -> None:
    query = VectorQuery(positives=([1.0, 0.0, 0.0, 0.0],), sparse=SparseVector((), ()), limit=2)
    assert [h.product.id for h in await filled.query(CATALOG, query)] == ["a", "b"]


async def test_ensure_catalog_says_whether_it_created_the_catalog(index: VectorIndex) -> None:
    assert await index.ensure_catalog(CATALOG, 4) is True
    assert await index.ensure_catalog(CATALOG, 4) is False


async def test_drop_catalog_removes_it_and_its_products_idempotently(filled: VectorIndex) -> None:
    await filled.ensure_catalog("other", 4)
    await filled.upsert("other", PRODUCTS[:2])
    assert await filled.drop_catalog(CATALOG) is True
    assert [c.name for c in await filled.catalogs()] == ["other"]
    with pytest.raises(CatalogNotFound):
        await filled.query(CATALOG, VectorQuery(positives=([1.0, 0.0, 0.0, 0.0],)))
    with pytest.raises(CatalogNotFound):
        await filled.fingerprints(CATALOG)
    assert await filled.drop_catalog(CATALOG) is False
    assert await filled.ensure_catalog(CATALOG, 4) is True  # created again, empty
    assert await filled.fingerprints(CATALOG) == {}
    assert set(await filled.fingerprints("other")) == {"a", "b"}  # the other catalog untouched


async def test_fingerprints_of_some_ids_skip_the_missing_ones(filled: VectorIndex) -> None:
    assert await filled.fingerprints(CATALOG, ["e", "missing", "a", "e"]) == {"e": "hash-e", "a": "hash-a"}
    assert await filled.fingerprints(CATALOG, []) == {}
    with pytest.raises(CatalogNotFound):
        await filled.fingerprints("nope", ["a"])


async def test_flush_after_writes_and_an_unknown_catalog_is_not_found(filled: VectorIndex) -> None:
    await filled.delete(CATALOG, ["a"])
    await filled.flush(CATALOG)
    await filled.flush(CATALOG)  # nothing new: covered by the previous flush
    assert "a" not in await filled.fingerprints(CATALOG)
    with pytest.raises(CatalogNotFound):
        await filled.flush("nope")


async def test_edge_reads_racing_a_drop_see_the_catalog_or_not_found(tmp_path: Path) -> None:
    """Dropping a served catalog: every read either answers or is CatalogNotFound, never a 503."""
    index = EdgeVectorIndex(tmp_path)
    await index.ensure_catalog(CATALOG, 4)
    await index.upsert(CATALOG, [record(str(i), [1.0, float(i % 5), 0.5, 0.0]) for i in range(500)])
    outcomes: list[str] = []

    async def reader() -> None:
        # A query of an open shard runs on the loop's thread without yielding (edge_index._read):
        # the readers yield between queries so the drop lands among them, and read until it has.
        for _ in range(2000):
            try:
                await index.query(CATALOG, VectorQuery(positives=([1.0, 0.0, 0.0, 0.0],), limit=5))
                outcomes.append("ok")
            except CatalogNotFound:
                outcomes.append("not_found")
                return
            await anyio.sleep(0.001)

    async def dropper() -> None:
        await anyio.sleep(0.01)
        assert await index.drop_catalog(CATALOG) is True

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(reader)
        tg.start_soon(dropper)
    assert outcomes[-1] == "not_found"
    assert "ok" in outcomes
    assert set(outcomes) <= {"ok", "not_found"}
    assert not any((tmp_path / "edge").iterdir())  # nothing left on disk
    await index.close()


HOLDER = """
import asyncio, sys
from pathlib import Path
from app.adapters.edge_index import EdgeVectorIndex
index = EdgeVectorIndex(Path(sys.argv[1]))
asyncio.run(index.fingerprints("shop"))
print("holding", flush=True)
sys.stdin.readline()
"""


def test_edge_a_shard_held_by_another_process_is_index_locked(tmp_path: Path) -> None:
    first = EdgeVectorIndex(tmp_path)
    asyncio.run(first.ensure_catalog(CATALOG, 4))
    asyncio.run(first.close())
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        second = EdgeVectorIndex(tmp_path)
        with pytest.raises(IndexLocked):
            asyncio.run(second.fingerprints(CATALOG))
    finally:
        holder.kill()
        holder.wait()
