from __future__ import annotations

from dataclasses import replace

import pytest

from app.domain.errors import InvalidRequest
from app.domain.models import Product
from embeddings.ingest import SyncRefused, ingest
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


async def test_full_sync_deletes_nothing_when_any_row_failed(
    embedder: HashingEmbedder, memory_index: InMemoryVectorIndex
) -> None:
    await ingest(PRODUCTS, "shop", embedder, memory_index, model_id="m")
    changed = [replace(p, price=500.0) for p in PRODUCTS[:9]]
    items = [*changed, RowError("f.jsonl:10", None, "truncated row")]  # the failed row's id is unknown
    summary = await ingest(items, "shop", embedder, memory_index, model_id="m", full_sync=True, force=True)
    assert (summary.updated, summary.deleted, summary.failed) == (9, 0, 1)
    assert summary.deletion_skipped is not None
    assert "deleted nothing" in summary.line()
    assert len(await memory_index.fingerprints("shop")) == 10  # "9" is kept: it may be the lost row


async def test_full_sync_deletes_missing_products_within_the_allowed_fraction(
    embedder: HashingEmbedder, memory_index: InMemoryVectorIndex
) -> None:
    await ingest(PRODUCTS, "shop", embedder, memory_index, model_id="m")
    summary = await ingest(PRODUCTS[:8], "shop", embedder, memory_index, model_id="m", full_sync=True)
    assert summary.deleted == 2  # 20 % of 10: at the default limit
    assert sorted(await memory_index.fingerprints("shop"), key=int) == [str(i) for i in range(8)]


@pytest.mark.parametrize(
    ("items", "label"),
    [
        ([], "an empty file"),
        (PRODUCTS[:7], "30 % missing"),
        ([Product(id="x", title="other")], "a wrong file"),
    ],
)
async def test_full_sync_refuses_to_delete_past_the_fraction_and_writes_nothing(
    embedder: HashingEmbedder, memory_index: InMemoryVectorIndex, items: list[Product], label: str
) -> None:
    await ingest(PRODUCTS, "shop", embedder, memory_index, model_id="m")
    before = await memory_index.fingerprints("shop")
    with pytest.raises(SyncRefused, match="--force"):
        await ingest(items, "shop", embedder, memory_index, model_id="m", full_sync=True)
    assert await memory_index.fingerprints("shop") == before, label
    summary = await ingest(items, "shop", embedder, memory_index, model_id="m", full_sync=True, force=True)
    assert len(await memory_index.fingerprints("shop")) == len(items)
    assert summary.deleted == 10 - len({p.id for p in items} & {p.id for p in PRODUCTS})


async def test_a_dry_run_reports_the_plan_and_writes_nothing(
    embedder: HashingEmbedder, memory_index: InMemoryVectorIndex
) -> None:
    await ingest(PRODUCTS, "shop", embedder, memory_index, model_id="m")
    before = await memory_index.fingerprints("shop")
    items = [replace(PRODUCTS[0], price=1.5), *PRODUCTS[1:8], Product(id="new", title="hdmi cable")]
    summary = await ingest(items, "shop", embedder, memory_index, model_id="m", full_sync=True, dry_run=True)
    assert summary.planned_ids == {"add": ["new"], "update": ["0"], "delete": ["8", "9"]}
    assert (summary.added, summary.updated, summary.deleted) == (1, 1, 2)
    assert summary.line().startswith("dry run:")
    assert await memory_index.fingerprints("shop") == before
    refused = await ingest([], "shop", embedder, memory_index, model_id="m", full_sync=True, dry_run=True)
    assert refused.deleted == 10
    assert "--force" in (refused.deletion_skipped or "")  # a real run would refuse, and says so
    await ingest(PRODUCTS, "fresh", embedder, memory_index, model_id="m", dry_run=True)
    assert [c.name for c in await memory_index.catalogs()] == ["shop"]  # not even created


async def test_a_run_whose_every_row_failed_creates_no_catalog(
    embedder: HashingEmbedder, memory_index: InMemoryVectorIndex
) -> None:
    summary = await ingest([RowError("f:1", "a", "bad")], "shop", embedder, memory_index, model_id="m")
    assert summary.failed == 1
    assert await memory_index.catalogs() == []


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
