"""One contract, every ComplementStore: the in-memory fake and the file store (and, when it lands,
the control-plane store): maps round-trip whole, per catalog and per source, and a put replaces.
A new adapter gets one fixture here."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.adapters.complement_files import FileComplementStore
from app.domain.complements import ComplementMap
from app.ports import ComplementStore
from tests.fakes import InMemoryComplementStore

pytestmark = pytest.mark.integration

MERCHANDISER = ComplementMap("merchandiser", {"cameras": ("bags", "memory"), "printers": ("toner",)})
LEARNED = ComplementMap("learned", {"cameras": ("batteries",)}, "accessory compatibility statements")


@pytest.fixture(params=["in-memory-fake", "files"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ComplementStore:
    if request.param == "in-memory-fake":
        return InMemoryComplementStore()
    return FileComplementStore(tmp_path / "complements")  # the directory does not exist yet


async def test_a_map_never_set_is_none(store: ComplementStore) -> None:
    assert await store.get("shop", "merchandiser") is None
    assert await store.get("shop", "learned") is None


async def test_a_map_comes_back_whole_with_its_order_and_provenance(store: ComplementStore) -> None:
    await store.put("shop", MERCHANDISER)
    await store.put("shop", LEARNED)
    assert await store.get("shop", "merchandiser") == MERCHANDISER
    assert await store.get("shop", "learned") == LEARNED


async def test_sources_and_catalogs_are_kept_apart(store: ComplementStore) -> None:
    await store.put("shop", LEARNED)
    assert await store.get("shop", "merchandiser") is None
    assert await store.get("other-shop", "learned") is None


async def test_a_put_replaces_the_map_of_its_source(store: ComplementStore) -> None:
    await store.put("shop", MERCHANDISER)
    replacement = ComplementMap("merchandiser", {"laptops": ("bags",)}, "api")
    await store.put("shop", replacement)
    assert await store.get("shop", "merchandiser") == replacement
