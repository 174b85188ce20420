from __future__ import annotations

from dataclasses import replace

import pytest

from app.domain.errors import InvalidRequest
from app.domain.models import Product
from embeddings.ingest import ingest
from embeddings.readers import RowError
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

PRODUCTS = [Product(id=str(i), title=f"usb cable {i}", brand="Anker", price=float(i)) for i in range(10)]


async def test_a_first_ingest_adds_everything_in_batches(
    embedder: HashingEmbedder, memory_index: InMemoryVectorIndex
) -> None:
    summary = await ingest(PRODUCTS, "shop", embedder, memory_index, model_id="m", batch_size=4)
    assert (summary.added, summary.updated, summary.unchanged, summary.failed) == (10, 0, 0, 0)
    assert embedder.calls == 3
    assert memory_index.optimized == 1


async def test_rerunning_on_an_unchanged_catalog_embeds_nothing(
    embedder: HashingEmbedder, memory_index: InMemoryVectorIndex
) -> None:
    await ingest(PRODUCTS, "shop", embedder, memory_index, model_id="m")
    calls = embedder.calls
    summary = await ingest(PRODUCTS, "shop", embedder, memory_index, model_id="m")
    assert (summary.unchanged, summary.embedded, embedder.calls) == (10, 0, calls)
    assert memory_index.optimized == 1


async def test_changed_products_are_updated_and_a_model_change_re_embeds_all(
    embedder: HashingEmbedder, memory_index: InMemoryVectorIndex
) -> None:
    await ingest(PRODUCTS, "shop", embedder, memory_index, model_id="m")
    changed = [replace(p, price=1000.0) if p.id == "3" else p for p in PRODUCTS]
    summary = await ingest(changed, "shop", embedder, memory_index, model_id="m")
    assert (summary.updated, summary.unchanged) == (1, 9)
    assert (await memory_index.retrieve("shop", ["3"]))[0].product.price == 1000.0
    summary = await ingest(changed, "shop", embedder, memory_index, model_id="m2")
    assert summary.updated == 10


async def test_full_sync_deletes_missing_products_but_spares_rows_that_failed_to_parse(
    embedder: HashingEmbedder, memory_index: InMemoryVectorIndex
) -> None:
    await ingest(PRODUCTS, "shop", embedder, memory_index, model_id="m")
    items = [*PRODUCTS[:5], RowError("f.jsonl:7", "7", "bad price")]
    summary = await ingest(items, "shop", embedder, memory_index, model_id="m", full_sync=True)
    assert (summary.deleted, summary.failed) == (4, 1)
    assert sorted(await memory_index.fingerprints("shop")) == ["0", "1", "2", "3", "4", "7"]


async def test_without_full_sync_nothing_is_deleted(
    embedder: HashingEmbedder, memory_index: InMemoryVectorIndex
) -> None:
    await ingest(PRODUCTS, "shop", embedder, memory_index, model_id="m")
    summary = await ingest(PRODUCTS[:2], "shop", embedder, memory_index, model_id="m")
    assert summary.deleted == 0
    assert len(await memory_index.fingerprints("shop")) == 10


async def test_duplicate_ids_keep_the_first_and_count_as_failures(
    embedder: HashingEmbedder, memory_index: InMemoryVectorIndex
) -> None:
    summary = await ingest(
        [PRODUCTS[0], replace(PRODUCTS[0], title="dup")], "shop", embedder, memory_index, model_id="m"
    )
    assert (summary.added, summary.failed) == (1, 1)
    assert (await memory_index.retrieve("shop", ["0"]))[0].product.title == "usb cable 0"


async def test_an_unsafe_catalog_name_is_rejected_before_anything_is_written(
    embedder: HashingEmbedder, memory_index: InMemoryVectorIndex
) -> None:
    with pytest.raises(InvalidRequest):
        await ingest(PRODUCTS, "../etc", embedder, memory_index, model_id="m")
    assert await memory_index.catalogs() == []
