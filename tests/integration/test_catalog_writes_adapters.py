"""The write use case on both real index adapters (Qdrant Edge, qdrant-client `:memory:`) with the
bundled sample's real rows: what the engines store comes back hashing the same, so an unchanged
push writes nothing and a price change keeps the stored vector; patches, deletes and drops."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.adapters.edge_index import EdgeVectorIndex
from app.adapters.memory_store import MemoryControlStore
from app.adapters.qdrant_server_index import QdrantServerIndex
from app.catalogs.patch import ProductChanges
from app.catalogs.plan import RawRow
from app.catalogs.service import CatalogWrites
from app.ports import VectorIndex
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[2] / "data/sample/icecat-sample.jsonl"


def sample(count: int) -> list[dict[str, object]]:
    with SAMPLE.open() as f:
        return [json.loads(line) for _, line in zip(range(count), f, strict=False)]


def raw(rows: list[dict[str, object]]) -> list[RawRow]:
    return [RawRow(n, json.dumps(r).encode()) for n, r in enumerate(rows, start=1)]


@pytest.fixture(params=["qdrant-edge", "qdrant-client-memory"])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorIndex]:
    adapter: VectorIndex = (
        EdgeVectorIndex(tmp_path)
        if request.param == "qdrant-edge"
        else QdrantServerIndex.connect(":memory:", None)
    )
    yield adapter
    await adapter.close()


async def test_pushes_patches_and_deletes_round_trip_through_a_real_engine(index: VectorIndex) -> None:
    embedder = HashingEmbedder()
    writes = CatalogWrites(embedder, index, MemoryControlStore(), model_id="m")
    await writes.create("shop")
    rows = sample(60)
    assert (await writes.upsert("shop", raw(rows))).count("created") == 60

    again = await writes.upsert("shop", raw(rows))
    assert (again.count("unchanged"), again.embedded) == (60, 0)  # what the engine returns hashes the same

    repriced = [{**r, "price": 1 + n} for n, r in enumerate(rows[:20])]
    report = await writes.upsert("shop", raw(repriced))
    assert (report.count("updated"), report.embedded) == (20, 0)  # stored vectors kept

    first = str(rows[0]["id"])
    patched = await writes.patch("shop", first, ProductChanges(in_stock=False, price=3.5))
    assert (patched.result, patched.embedded) == ("updated", False)
    back = {**repriced[0], "in_stock": False, "price": 3.5}
    assert (await writes.upsert("shop", raw([back]))).count("unchanged") == 1

    deleted = await writes.delete_products("shop", [first, "nope"])
    assert (deleted.deleted, deleted.not_found) == ((first,), ("nope",))
    sync = await writes.sync("shop", [str(r["id"]) for r in rows[:55]])
    assert len(sync.deleted) == 5
    assert len(await index.fingerprints("shop")) == 54
    await writes.delete("shop")
    assert await index.catalogs() == []
