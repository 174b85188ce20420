"""One contract for every ControlStore: in-memory, SQLite (the default) and a real PostgreSQL 15
server started for this module (tests/postgres.py; skipped, saying why, without the binaries)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.adapters.memory_store import MemoryControlStore
from app.adapters.postgres_store import PostgresControlStore
from app.adapters.sqlite_store import SQLiteControlStore
from app.domain.complements import ComplementMap
from app.domain.control_plane import ApiKey, CatalogSettings
from app.domain.errors import AlreadyExists, StoreIncompatible, StoreUnavailable
from app.domain.events import Event, Impression
from app.domain.experiments import Experiment, Variant
from app.ports import ControlStore
from app.store.migrations import Migration, load
from tests.postgres import PostgresServer, missing_reason, postgres_server

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)
Factory = Callable[..., ControlStore]


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def factory(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Factory:
    """New store instances on one location (a file, a database): a second instance is a second
    process's view of the same data."""
    if backend == "memory":
        shared = MemoryControlStore()
        return lambda **_: shared
    if backend == "sqlite":
        return lambda **kw: SQLiteControlStore(tmp_path / "control.db", **kw)
    url = request.getfixturevalue("pg").create_database()
    return lambda **kw: PostgresControlStore(url, **kw)


@pytest.fixture
async def store(factory: Factory) -> AsyncIterator[ControlStore]:
    s = factory()
    await s.migrate()
    yield s
    await s.close()


def key(key_id: str = "abcdefghij", **changes: object) -> ApiKey:
    base = ApiKey(
        id=key_id,
        name="storefront",
        secret_hash="0" * 64,
        scopes=frozenset({"search"}),
        catalogs=("shop", "outlet"),
        created_at=T0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def test_migrate_is_idempotent(factory: Factory, backend: str) -> None:
    first = factory()
    applied = await first.migrate()
    assert applied == ([] if backend == "memory" else [m.version for m in load("sqlite")])
    assert await first.migrate() == []
    second = factory()
    assert await second.migrate() == []
    await first.close()
    await second.close()


async def test_two_processes_migrating_together_apply_each_version_once(
    factory: Factory, backend: str
) -> None:
    if backend == "memory":
        pytest.skip("nothing to migrate in memory")
    stores = [factory() for _ in range(4)]
    results = await asyncio.gather(*(s.migrate() for s in stores))
    assert sorted(v for r in results for v in r) == [m.version for m in load("sqlite")]
    await stores[0].add_key(key())  # and the schema works
    for s in stores:
        await s.close()


async def test_a_later_migration_applies_on_top_and_an_edited_one_is_refused(
    factory: Factory, backend: str
) -> None:
    """The mechanism is general: a future feature adds its tables as the next version."""
    if backend == "memory":
        pytest.skip("nothing to migrate in memory")
    dialect = "sqlite" if backend == "sqlite" else "postgres"
    v1 = load(dialect)
    first = factory(migrations=v1)
    assert await first.migrate() == [m.version for m in v1]
    await first.add_key(key())
    await first.close()
    later = v1[-1].version + 1
    events = Migration(
        later,
        "later",
        "CREATE TABLE later_feature (id TEXT PRIMARY KEY, catalog TEXT NOT NULL);\n"
        "CREATE INDEX later_feature_catalog ON later_feature (catalog);\n",
    )
    second = factory(migrations=[*v1, events])
    assert await second.migrate() == [later]
    assert await second.get_key("abcdefghij") == key()
    await second.close()
    edited = factory(migrations=[*v1, dataclasses.replace(events, sql=events.sql + "-- edited\n")])
    with pytest.raises(StoreIncompatible, match=f"{later:04d}_later was changed"):
        await edited.migrate()
    await edited.close()


async def test_a_failing_migration_leaves_nothing_half_applied(factory: Factory, backend: str) -> None:
    if backend == "memory":
        pytest.skip("nothing to migrate in memory")
    dialect = "sqlite" if backend == "sqlite" else "postgres"
    shipped = load(dialect)
    later = shipped[-1].version + 1
    broken = Migration(later, "broken", "CREATE TABLE half (id TEXT);\nTHIS IS NOT SQL;\n")
    s = factory(migrations=[*shipped, broken])
    with pytest.raises(StoreUnavailable):
        await s.migrate()
    await s.close()
    fixed = factory(migrations=[*shipped, Migration(later, "broken", "CREATE TABLE half (id TEXT);\n")])
    # the shipped versions rolled back with the broken one, and "half" did not exist
    assert await fixed.migrate() == [*(m.version for m in shipped), later]
    await fixed.close()


async def test_keys_round_trip_and_revoke(store: ControlStore) -> None:
    assert await store.get_key("abcdefghij") is None
    everything = key(
        "abcdefghij", scopes=frozenset({"search", "write", "admin"}), catalogs=None, rate_per_s=2.5, burst=7
    )
    bound = key("klmnopqrst", created_at=T0 + timedelta(seconds=1))
    await store.add_key(bound)
    await store.add_key(everything)
    assert await store.get_key("abcdefghij") == everything
    assert await store.get_key("klmnopqrst") == bound
    assert [k.id for k in await store.list_keys()] == ["abcdefghij", "klmnopqrst"]  # oldest first
    with pytest.raises(AlreadyExists):
        await store.add_key(key("abcdefghij"))

    assert await store.revoke_key("klmnopqrst", T0 + timedelta(hours=1)) is True
    assert await store.revoke_key("klmnopqrst", T0 + timedelta(hours=2)) is True  # keeps the first time
    revoked = await store.get_key("klmnopqrst")
    assert revoked is not None
    assert revoked.revoked_at == T0 + timedelta(hours=1)
    assert not revoked.active
    assert await store.revoke_key("nosuchkeyx", T0) is False
    still = await store.get_key("abcdefghij")
    assert still is not None
    assert still.active


async def test_catalog_settings(store: ControlStore) -> None:
    shop = CatalogSettings("shop", T0, "The Shop")
    assert await store.add_catalog(shop) is True
    assert await store.add_catalog(CatalogSettings("shop", T0 + timedelta(days=1))) is False
    assert await store.get_catalog("shop") == shop
    await store.put_catalog(dataclasses.replace(shop, display_name=None))
    assert await store.get_catalog("shop") == CatalogSettings("shop", T0, None)
    await store.add_catalog(CatalogSettings("outlet", T0))
    assert [c.name for c in await store.list_catalogs()] == ["outlet", "shop"]
    assert await store.get_catalog("nope") is None


async def test_complement_maps_by_catalog_and_source(store: ControlStore) -> None:
    assert await store.get("shop", "merchandiser") is None
    merch = ComplementMap("merchandiser", {"cameras": ("bags", "batteries"), "tvs": ("cables",)}, "api")
    learned = ComplementMap("learned", {"cameras": ("memory",)}, "accessory compatibility statements")
    await store.put("shop", merch)
    await store.put("shop", learned)
    await store.put("outlet", ComplementMap("merchandiser", {"a": ("b",)}, "api"))
    assert await store.get("shop", "merchandiser") == merch
    assert await store.get("shop", "learned") == learned
    replaced = ComplementMap("merchandiser", {"cameras": ("tripods",)}, "api")
    await store.put("shop", replaced)
    assert await store.get("shop", "merchandiser") == replaced
    assert await store.get("outlet", "merchandiser") == ComplementMap("merchandiser", {"a": ("b",)}, "api")


async def test_deleting_a_catalog_takes_its_complement_maps_not_other_catalogs(store: ControlStore) -> None:
    await store.add_catalog(CatalogSettings("shop", T0))
    await store.put("shop", ComplementMap("merchandiser", {"a": ("b",)}, "api"))
    await store.put("outlet", ComplementMap("merchandiser", {"c": ("d",)}, "api"))
    await store.add_key(key(catalogs=("shop",)))
    assert await store.delete_catalog("shop") is True
    assert await store.delete_catalog("shop") is False
    assert await store.get_catalog("shop") is None
    assert await store.get("shop", "merchandiser") is None
    assert await store.get("outlet", "merchandiser") is not None
    bound = await store.get_key("abcdefghij")
    assert bound is not None
    assert bound.catalogs == ("shop",)


async def _fill_catalog(store: ControlStore, catalog: str) -> None:
    await store.add_catalog(CatalogSettings(catalog, T0))
    await store.append_events(
        catalog,
        [
            Event(f"e{n}", "purchase", f"item{n}", "s1", T0 + timedelta(seconds=n), request_id="r1")
            for n in range(3)
        ],
    )
    await store.record_impressions([Impression(catalog, "r1", "search", "vector", ("item1",), T0)])
    await store.add_experiment(
        Experiment(
            catalog,
            "rr",
            "user",
            (Variant("control", 1.0), Variant("llm", 1.0, rerank="llm")),
            ("search",),
            T0,
        )
    )


async def test_deleting_a_catalog_takes_its_events_impressions_and_experiments(store: ControlStore) -> None:
    """A catalog recreated under the same name starts empty: nothing of the deleted one's
    behaviour (trending, bought-together, attribution, experiments) survives it."""
    await _fill_catalog(store, "shop")
    await _fill_catalog(store, "outlet")
    assert await store.delete_catalog("shop") is True
    assert await store.recent_events("shop", session_id="s1") == []
    assert await store.get_impressions("shop", ["r1"]) == []
    assert await store.list_experiments("shop") == []
    assert await store.attributed_events("shop", T0, T0 + timedelta(hours=1)) == []
    left = await store.events_after(0, 100)
    assert {s.catalog for s in left} == {"outlet"}
    assert len(left) == 3
    assert len(await store.get_impressions("outlet", ["r1"])) == 1
    assert len(await store.list_experiments("outlet")) == 1
    await _fill_catalog(store, "shop")  # the same ids again: stored anew, not seen as retries
    assert len(await store.recent_events("shop", session_id="s1")) == 3
    assert min(s.seq for s in await store.events_after(0, 100) if s.catalog == "shop") > max(
        s.seq for s in left
    )


async def test_a_complement_file_is_imported_once_ever(factory: Factory) -> None:
    """Recorded with its map in one transaction; a map deleted afterwards (through the API, or
    with its catalog) is not imported again, by this process or another one (a restart)."""
    store = factory()
    await store.migrate()
    merch = ComplementMap("merchandiser", {"cameras": ("bags",)}, "file")
    assert await store.imported_files() == set()
    assert await store.import_complement_file("shop.merchandiser.json", "shop", merch) is True
    assert await store.get("shop", "merchandiser") == merch
    assert await store.import_complement_file("shop.merchandiser.json", "shop", merch) is False
    held = ComplementMap("learned", {"tvs": ("cables",)}, "api")
    await store.put("shop", held)  # a map the store holds wins over the file, which is recorded
    from_file = ComplementMap("learned", {"cameras": ("bags",)}, "file")
    assert await store.import_complement_file("shop.learned.json", "shop", from_file) is False
    assert await store.get("shop", "learned") == held
    await store.delete_catalog("shop")
    await store.close()
    again = factory()
    await again.migrate()
    assert await again.imported_files() == {"shop.merchandiser.json", "shop.learned.json"}
    assert await again.import_complement_file("shop.merchandiser.json", "shop", merch) is False
    assert await again.get("shop", "merchandiser") is None
    await again.close()


async def test_the_complement_file_import_skips_what_was_imported(
    tmp_path: Path, store: ControlStore
) -> None:
    from app.store.complement_import import import_complement_files

    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "shop.merchandiser.json").write_text('{"complements": {"cameras": ["bags"]}, "provenance": "f"}')
    (maps / "notes.txt").write_text("not a map")
    assert await import_complement_files(store, maps) == ["shop.merchandiser.json"]
    await store.delete_catalog("shop")
    assert await import_complement_files(store, maps) == []
    assert await store.get("shop", "merchandiser") is None
    (maps / "outlet.learned.json").write_text('{"complements": {"tvs": ["cables"]}}')
    assert await import_complement_files(store, maps) == ["outlet.learned.json"]
    assert await import_complement_files(store, tmp_path / "no such directory") == []


async def test_what_one_instance_writes_another_reads(factory: Factory, backend: str) -> None:
    """Another process (or a restart) sees every acknowledged write."""
    if backend == "memory":
        pytest.skip("memory is one instance")
    writer = factory()
    await writer.migrate()
    await writer.add_key(key())
    await writer.put("shop", ComplementMap("learned", {"a": ("b",)}, "test"))
    await writer.add_catalog(CatalogSettings("shop", T0))
    await writer.close()
    reader = factory()
    assert await reader.get_key("abcdefghij") == key()
    assert await reader.get("shop", "learned") == ComplementMap("learned", {"a": ("b",)}, "test")
    assert await reader.get_catalog("shop") == CatalogSettings("shop", T0)
    await reader.close()


async def test_concurrent_writers_lose_nothing(store: ControlStore) -> None:
    """Many requests at once (worker threads for SQLite, pooled connections for PostgreSQL)."""
    ids = [f"key{n:03d}aaaa"[:10] for n in range(40)]
    await asyncio.gather(*(store.add_key(key(i)) for i in ids))
    await asyncio.gather(
        *(store.put(f"c{n}", ComplementMap("learned", {"a": (str(n),)}, "")) for n in range(20))
    )
    assert {k.id for k in await store.list_keys()} == set(ids)
    maps = await asyncio.gather(*(store.get(f"c{n}", "learned") for n in range(20)))
    assert [m.complements["a"] for m in maps if m] == [(str(n),) for n in range(20)]


async def test_sqlite_is_safe_from_several_threads_with_their_own_event_loops(tmp_path: Path) -> None:
    s = SQLiteControlStore(tmp_path / "control.db")
    await s.migrate()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        async def go() -> None:
            for i in range(10):
                await s.add_key(key(f"t{n}x{i:02d}aaaaa"[:10]))
                await s.list_keys()

        try:
            asyncio.run(go())
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(await s.list_keys()) == 40
    await s.close()


async def test_an_unreachable_store_is_store_unavailable(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    sqlite = SQLiteControlStore(blocked / "control.db")
    with pytest.raises(StoreUnavailable):
        await sqlite.migrate()
    await sqlite.close()
    from tests.integration.test_cache_contract import _free_port

    postgres = PostgresControlStore(f"postgresql://aisle@127.0.0.1:{_free_port()}/x", timeout_s=1.0)
    with pytest.raises(StoreUnavailable):
        await postgres.get_key("abcdefghij")
    await postgres.close()
