"""The catalog write use case on fakes: per-row results, incremental by content hash, vectors
kept when the embedded text is the same, patches that stay hash-consistent with a later full
upsert, deletes, the full-sync guards, flush before acknowledgement, bounded embedding."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import anyio
import pytest

from app.adapters.memory_store import MemoryControlStore
from app.catalogs.patch import ProductChanges
from app.catalogs.plan import RawRow, Row, plan_rows, read_rows
from app.catalogs.service import CatalogWrites
from app.domain.catalog_changes import CatalogChange
from app.domain.complements import ComplementMap
from app.domain.control_plane import CatalogSettings
from app.domain.errors import (
    AlreadyExists,
    CatalogNotFound,
    DeletionRefused,
    InvalidRequest,
    ProductNotFound,
)
from app.domain.models import Product
from app.vocabularies import Vocabularies
from embeddings.ingest import ingest
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

MODEL = "model-a"
NOW = datetime(2026, 1, 2, tzinfo=UTC)


def rows(*products: dict[str, object] | str) -> list[RawRow]:
    return [
        RawRow(n, p.encode() if isinstance(p, str) else json.dumps(p).encode())
        for n, p in enumerate(products, start=1)
    ]


SPEAKER = {"id": "spk", "title": "portable bluetooth speaker", "brand": "JBL", "price": 49.0}
CABLE = {"id": "cbl", "title": "usb c cable", "brand": "Anker", "category": "Cables", "price": 9.0}


class Heard:
    """A `CatalogListener` that records what it hears (and can be made to fail)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.changes: list[CatalogChange] = []
        self.fail = fail

    async def catalog_changed(self, change: CatalogChange) -> None:
        self.changes.append(change)
        if self.fail:
            raise RuntimeError("a listener bug")


class Writes:
    def __init__(self, model_id: str = MODEL, *, failing_listener: bool = False) -> None:
        self.embedder = HashingEmbedder()
        self.index = InMemoryVectorIndex()
        self.store = MemoryControlStore()
        self.vocabularies = Vocabularies(self.index)
        self.heard = Heard()
        listeners = (Heard(fail=True), self.vocabularies, self.heard) if failing_listener else ()
        self.service = CatalogWrites(
            self.embedder,
            self.index,
            self.store,
            model_id=model_id,
            listeners=listeners or (self.vocabularies, self.heard),
            now=lambda: NOW,
        )


@pytest.fixture
async def writes() -> Writes:
    w = Writes()
    await w.service.create("shop")
    return w


async def test_create_registers_the_catalog_and_a_second_create_is_already_exists() -> None:
    w = Writes()
    created = await w.service.create("shop")
    assert (created.name, created.created_at) == ("shop", NOW)
    assert [c.name for c in await w.index.catalogs()] == ["shop"]
    assert await w.store.get_catalog("shop") == CatalogSettings("shop", NOW)
    with pytest.raises(AlreadyExists):
        await w.service.create("shop")
    with pytest.raises(InvalidRequest):
        await w.service.create("Bad Name")


async def test_create_records_settings_for_a_catalog_ingested_before() -> None:
    w = Writes()
    await ingest([Product(id="a", title="lamp")], "old", w.embedder, w.index, model_id=MODEL)
    with pytest.raises(AlreadyExists):
        await w.service.create("old")
    assert await w.store.get_catalog("old") is not None


async def test_delete_removes_products_settings_and_maps_and_is_idempotent(writes: Writes) -> None:
    await writes.service.upsert("shop", rows(SPEAKER))
    await writes.store.put("shop", ComplementMap("merchandiser", {"speakers": ("cables",)}, "api"))
    await writes.service.delete("shop")
    assert await writes.index.catalogs() == []
    assert await writes.store.get_catalog("shop") is None
    assert await writes.store.get("shop", "merchandiser") is None
    await writes.service.delete("shop")  # again: nothing left, still fine
    await writes.service.create("shop")  # and it can be created anew, empty
    assert await writes.index.fingerprints("shop") == {}


async def test_listeners_hear_every_change_with_its_ids() -> None:
    w = Writes()
    await w.service.create("shop")
    await w.service.upsert("shop", rows(SPEAKER, CABLE))
    await w.service.upsert("shop", rows(SPEAKER))  # unchanged: nothing to hear
    await w.service.patch("shop", "spk", ProductChanges(price=39.0))
    await w.service.delete_products("shop", ["cbl", "nope"])
    await w.service.upsert("shop", rows(CABLE))
    await w.service.sync("shop", ["spk"], force=True)
    await w.service.delete("shop")
    heard = [(c.kind, c.catalog, sorted(c.ids)) for c in w.heard.changes]
    assert heard == [
        ("created", "shop", []),
        ("products", "shop", ["cbl", "spk"]),
        ("products", "shop", ["spk"]),
        ("products", "shop", ["cbl"]),
        ("products", "shop", ["cbl"]),
        ("products", "shop", ["cbl"]),
        ("dropped", "shop", []),  # before the store deletes its events, and after
        ("dropped", "shop", []),
    ]


async def test_a_failing_listener_fails_no_write_and_the_others_still_hear() -> None:
    w = Writes(failing_listener=True)
    await w.service.create("shop")
    report = await w.service.upsert("shop", rows(SPEAKER))
    assert report.count("created") == 1
    await w.service.delete("shop")
    assert [c.kind for c in w.heard.changes] == ["created", "products", "dropped", "dropped"]


async def test_per_catalog_locks_are_not_kept_for_every_name_ever_written(writes: Writes) -> None:
    for n in range(200):
        with pytest.raises(CatalogNotFound):
            await writes.service.delete_products(f"gone{n}", ["a"])
        await writes.service.delete(f"del{n}")
    await writes.service.upsert("shop", rows(SPEAKER))
    assert len(writes.service._locks) == 0

    async def patch_while_another_waits() -> None:
        async with anyio.create_task_group() as tg:
            for price in (1.0, 2.0, 3.0):
                tg.start_soon(writes.service.patch, "shop", "spk", ProductChanges(price=price))

    await patch_while_another_waits()  # the lock is shared while held, then let go
    assert len(writes.service._locks) == 0


async def test_upsert_reports_every_row_with_its_line(writes: Writes) -> None:
    report = await writes.service.upsert(
        "shop",
        rows(SPEAKER, {"id": "bad", "title": ""}, "{not json", {**SPEAKER, "title": "dup"}, CABLE),
    )
    got = [(o.line, o.id, o.result) for o in report.outcomes]
    assert got == [
        (1, "spk", "created"),
        (2, "bad", "error"),
        (3, None, "error"),
        (4, "spk", "error"),
        (5, "cbl", "created"),
    ]
    assert "title" in (report.outcomes[1].message or "")
    assert "line 1 was kept" in (report.outcomes[3].message or "")
    assert (report.count("created"), report.count("error"), report.embedded) == (2, 3, 2)
    assert set(await writes.index.fingerprints("shop")) == {"spk", "cbl"}
    assert writes.index.flushes >= 1


async def test_an_unchanged_product_is_not_written_nor_embedded(writes: Writes) -> None:
    await writes.service.upsert("shop", rows(SPEAKER, CABLE))
    calls = writes.embedder.calls
    report = await writes.service.upsert("shop", rows(SPEAKER, CABLE))
    assert [o.result for o in report.outcomes] == ["unchanged", "unchanged"]
    assert writes.embedder.calls == calls
    assert report.embedded == 0


async def test_a_price_change_keeps_the_vector_and_a_title_change_embeds(writes: Writes) -> None:
    await writes.service.upsert("shop", rows(SPEAKER, CABLE))
    before = {r.product.id: r for r in await writes.index.retrieve("shop", ["spk", "cbl"])}
    calls = writes.embedder.calls
    report = await writes.service.upsert(
        "shop",
        rows({**SPEAKER, "price": 39.0, "in_stock": False}, {**CABLE, "title": "usb c charging cable"}),
    )
    assert [o.result for o in report.outcomes] == ["updated", "updated"]
    assert report.embedded == 1  # only the cable's text changed
    assert writes.embedder.calls == calls + 1
    after = {r.product.id: r for r in await writes.index.retrieve("shop", ["spk", "cbl"])}
    assert after["spk"].vector == before["spk"].vector
    assert (after["spk"].product.price, after["spk"].product.in_stock) == (39.0, False)
    assert after["cbl"].vector != before["cbl"].vector


async def test_written_and_patched_products_are_indexed_as_ingest_indexes_them(writes: Writes) -> None:
    """Same vector, content hash and bm25-v2 sparse vector (of the embedded product text) as a
    local `aisle ingest` of the same product, so hybrid retrieval and the ranker see no difference."""
    await writes.service.upsert("shop", rows(CABLE))
    await writes.service.patch("shop", "cbl", ProductChanges(title="usb-c charging cable", price=7.0))
    patched = Product(id="cbl", title="usb-c charging cable", brand="Anker", category="Cables", price=7.0)
    await ingest([patched], "local", writes.embedder, writes.index, model_id=MODEL)
    [written] = await writes.index.retrieve("shop", ["cbl"])
    [ingested] = await writes.index.retrieve("local", ["cbl"])
    assert written.product == ingested.product
    assert (written.content_hash, written.sparse) == (ingested.content_hash, ingested.sparse)
    assert written.vector == ingested.vector


async def test_a_vector_from_another_model_is_never_reused() -> None:
    w = Writes(model_id="model-b")
    await w.service.create("shop")
    await ingest(
        [Product(id="spk", title="portable bluetooth speaker")], "shop", w.embedder, w.index, model_id="a"
    )
    calls = w.embedder.calls
    report = await w.service.upsert("shop", rows({"id": "spk", "title": "portable bluetooth speaker"}))
    assert (report.outcomes[0].result, report.embedded, w.embedder.calls) == ("updated", 1, calls + 1)


async def test_a_dry_run_plans_and_writes_nothing(writes: Writes) -> None:
    await writes.service.upsert("shop", rows(SPEAKER))
    report = await writes.service.upsert("shop", rows({**SPEAKER, "price": 1.0}, CABLE), dry_run=True)
    assert [o.result for o in report.outcomes] == ["updated", "created"]
    assert report.dry_run
    assert set(await writes.index.fingerprints("shop")) == {"spk"}
    assert (await writes.index.retrieve("shop", ["spk"]))[0].product.price == 49.0


async def test_upsert_into_an_unknown_catalog_is_not_found(writes: Writes) -> None:
    with pytest.raises(CatalogNotFound):
        await writes.service.upsert("nope", rows(SPEAKER))


async def test_a_patch_changes_the_payload_without_embedding_and_stays_hash_consistent(
    writes: Writes,
) -> None:
    await writes.service.upsert("shop", rows(SPEAKER))
    calls = writes.embedder.calls
    report = await writes.service.patch("shop", "spk", ProductChanges(price=29.5, in_stock=False))
    assert (report.result, report.embedded) == ("updated", False)
    assert (report.product.price, report.product.in_stock) == (29.5, False)
    assert writes.embedder.calls == calls
    # The next full upsert of the patched product is unchanged; of the feed's old version, updated.
    patched = {**SPEAKER, "price": 29.5, "in_stock": False}
    assert [o.result for o in (await writes.service.upsert("shop", rows(patched))).outcomes] == ["unchanged"]
    again = await writes.service.upsert("shop", rows(SPEAKER))
    assert ([o.result for o in again.outcomes], again.embedded) == (["updated"], 0)


async def test_a_patch_of_the_text_embeds_that_product_and_unchanged_writes_nothing(writes: Writes) -> None:
    await writes.service.upsert("shop", rows(SPEAKER))
    same = await writes.service.patch("shop", "spk", ProductChanges(price=49.0))
    assert (same.result, same.embedded) == ("unchanged", False)
    renamed = await writes.service.patch(
        "shop", "spk", ProductChanges(title="  waterproof   speaker ", attributes={"colour": "red"})
    )
    assert (renamed.result, renamed.embedded) == ("updated", True)
    assert renamed.product.title == "waterproof speaker"
    assert renamed.product.attributes == {"colour": "red"}
    dropped = await writes.service.patch(
        "shop", "spk", ProductChanges(attributes={"colour": None}, price=None)
    )
    assert (dropped.product.attributes, dropped.product.price) == ({}, None)


async def test_a_patch_names_the_bad_field_and_an_unknown_product_is_not_found(writes: Writes) -> None:
    await writes.service.upsert("shop", rows(SPEAKER))
    with pytest.raises(InvalidRequest) as blank:
        await writes.service.patch("shop", "spk", ProductChanges(title="   "))
    assert blank.value.field == "title"
    with pytest.raises(InvalidRequest) as inf:
        await writes.service.patch("shop", "spk", ProductChanges(attributes={"weight": float("inf")}))
    assert inf.value.field == "attributes.weight"
    with pytest.raises(ProductNotFound):
        await writes.service.patch("shop", "nope", ProductChanges(price=1.0))
    assert (await writes.index.retrieve("shop", ["spk"]))[0].product.title == SPEAKER["title"]


async def test_a_patch_after_a_model_change_embeds_again(writes: Writes) -> None:
    await writes.service.upsert("shop", rows(SPEAKER))
    newer = CatalogWrites(writes.embedder, writes.index, writes.store, model_id="model-b")
    report = await newer.patch("shop", "spk", ProductChanges(price=1.0))
    assert report.embedded  # the stored vector is model-a's: never kept under model-b's hash


async def test_writes_forget_the_cached_vocabulary(writes: Writes) -> None:
    await writes.service.upsert("shop", rows(SPEAKER))
    assert (await writes.vocabularies.get("shop")).categories == ()
    await writes.service.upsert("shop", rows(CABLE))
    assert (await writes.vocabularies.get("shop")).categories == ("cables",)


async def test_delete_products_reports_the_unknown_ids(writes: Writes) -> None:
    await writes.service.upsert("shop", rows(SPEAKER, CABLE))
    report = await writes.service.delete_products("shop", ["spk", "nope", "spk"])
    assert (report.deleted, report.not_found) == (("spk",), ("nope",))
    assert set(await writes.index.fingerprints("shop")) == {"cbl"}


async def _ten(writes: Writes) -> None:
    await writes.service.upsert("shop", rows(*({"id": str(i), "title": f"product {i}"} for i in range(10))))


async def test_sync_deletes_what_the_input_does_not_name(writes: Writes) -> None:
    await _ten(writes)
    report = await writes.service.sync("shop", [str(i) for i in range(9)])
    assert (report.stored, report.kept, report.deleted) == (10, 9, ("9",))
    assert len(await writes.index.fingerprints("shop")) == 9


async def test_sync_refuses_past_the_fraction_unless_forced_and_a_dry_run_says_so(writes: Writes) -> None:
    await _ten(writes)
    dry = await writes.service.sync("shop", ["0"], dry_run=True)
    assert (dry.refused, len(dry.deleted)) == (True, 9)
    assert "over the 20% allowed" in (dry.deletion_skipped or "")
    with pytest.raises(DeletionRefused):
        await writes.service.sync("shop", ["0"])
    assert len(await writes.index.fingerprints("shop")) == 10  # nothing deleted
    assert len((await writes.service.sync("shop", ["0"], max_delete_fraction=0.95)).deleted) == 9


async def test_sync_deletes_nothing_when_any_row_failed(writes: Writes) -> None:
    await _ten(writes)
    report = await writes.service.sync("shop", [str(i) for i in range(9)], failed_rows=1)
    assert report.deleted == ()
    assert "1 row(s) failed" in (report.deletion_skipped or "")
    forced = await writes.service.sync("shop", [], force=True)
    assert len(forced.deleted) == 10


class SlowEmbedder(HashingEmbedder):
    """Counts how many embed calls run at once, and on which thread."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0
        self.peak = 0
        self.threads: set[int] = set()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.threads.add(threading.get_ident())
        time.sleep(0.01)
        try:
            return super().embed(texts)
        finally:
            with self._lock:
                self.active -= 1


async def test_embedding_runs_off_the_loop_one_batch_at_a_time_across_requests() -> None:
    embedder = SlowEmbedder()
    index = InMemoryVectorIndex()
    service = CatalogWrites(embedder, index, MemoryControlStore(), model_id=MODEL, embed_batch_size=4)
    await service.create("shop")
    loop_thread = threading.get_ident()
    async with anyio.create_task_group() as tg:
        for k in range(3):
            batch = rows(*({"id": f"{k}-{i}", "title": f"thing {k} {i}"} for i in range(12)))
            tg.start_soon(service.upsert, "shop", batch)
    assert embedder.peak == 1  # embed_concurrency=1: one embedding call at a time, whatever the requests
    assert loop_thread not in embedder.threads
    assert len(await index.fingerprints("shop")) == 36


def test_plan_rows_keeps_the_first_of_a_duplicated_id_and_compares_hashes() -> None:
    read = read_rows(rows(SPEAKER, SPEAKER))
    first = plan_rows(read, {}, MODEL)
    assert [o.result for o in first.outcomes] == ["created", "error"]
    stored = {w.product.id: w.content_hash for w in first.writes}
    second = plan_rows([Row(1, read[0].item)], stored, MODEL)
    assert [o.result for o in second.outcomes] == ["unchanged"]
    assert plan_rows([Row(1, read[0].item)], stored, "other-model").outcomes[0].result == "updated"
