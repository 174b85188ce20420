"""One contract for the event, impression and experiment tables of every ControlStore: in-memory,
SQLite (the default) and a real PostgreSQL 15 server started for this module (tests/postgres.py;
skipped, saying why, without the binaries). Plus durability: a batch acknowledged by SQLite
survives kill -9 of the process that wrote it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.adapters.memory_store import MemoryControlStore
from app.adapters.postgres_store import PostgresControlStore
from app.adapters.sqlite_store import SQLiteControlStore
from app.domain.errors import AlreadyExists
from app.domain.events import Event, Impression, ImpressionGroup
from app.domain.experiments import Experiment, Variant
from app.ports import ControlStore
from tests.postgres import PostgresServer, missing_reason, postgres_server

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
Factory = Callable[..., ControlStore]


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    if request.param == "memory":
        shared = MemoryControlStore()
        return lambda **_: shared
    if request.param == "sqlite":
        return lambda **kw: SQLiteControlStore(tmp_path / "control.db", **kw)
    url = request.getfixturevalue("pg").create_database()
    return lambda **kw: PostgresControlStore(url, **kw)


@pytest.fixture
async def store(factory: Factory) -> AsyncIterator[ControlStore]:
    s = factory()
    await s.migrate()
    yield s
    await s.close()


def event(n: int, **changes: object) -> Event:
    base = Event(
        event_id=f"e{n}",
        type="view",
        item_id=f"item{n % 7}",
        session_id=f"s{n % 3}",
        at=T0 + timedelta(seconds=n),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def test_append_is_idempotent_by_event_id_per_catalog(store: ControlStore) -> None:
    batch = [event(n) for n in range(10)]
    assert await store.append_events("shop", batch) == 10
    assert await store.append_events("shop", batch) == 0  # a retried batch stores nothing
    assert await store.append_events("shop", [event(3), event(10), event(10)]) == 1  # dupes within too
    assert await store.append_events("outlet", batch[:2]) == 2  # ids are per catalog
    stored = await store.events_after(0, 100)
    assert [(s.catalog, s.event.event_id) for s in stored] == [
        *[("shop", f"e{n}") for n in range(11)],
        ("outlet", "e0"),
        ("outlet", "e1"),
    ]
    assert await store.append_events("shop", []) == 0


async def test_every_field_round_trips(store: ControlStore) -> None:
    full = event(
        1,
        type="purchase",
        user_id="u1",
        order_id="o1",
        request_id="req-1",
        position=3,
        category="cameras",
        item_id="ünïcode-ø",
    )
    bare = event(2, type="add_to_cart")
    await store.append_events("shop", [full, bare])
    stored = await store.events_after(0, 10)
    assert [s.event for s in stored] == [full, bare]
    assert stored[0].seq < stored[1].seq


async def test_events_after_follows_the_append_order_in_pages(store: ControlStore) -> None:
    for start in range(0, 30, 10):
        await store.append_events("shop", [event(n) for n in range(start, start + 10)])
    seen, seq = [], 0
    while page := await store.events_after(seq, 7):
        seen += [s.event.event_id for s in page]
        seq = page[-1].seq
    assert seen == [f"e{n}" for n in range(30)]


async def test_concurrent_writers_never_let_a_follower_skip_an_event(factory: Factory) -> None:
    """Four writers at once and a follower reading as they go: whatever the follower has read,
    nothing committed later appears behind it (it ends up with every event exactly once)."""
    stores = [factory() for _ in range(5)]
    await stores[0].migrate()
    follower, writers = stores[0], stores[1:]
    seen: list[str] = []
    seq = 0
    done = asyncio.Event()

    async def write(w: int, s: ControlStore) -> None:
        for b in range(15):
            await s.append_events("shop", [event(1000 * w + 10 * b + i) for i in range(10)])

    async def follow() -> None:
        nonlocal seq
        while True:
            finished = done.is_set()
            page = await follower.events_after(seq, 50)
            for s in page:
                seen.append(s.event.event_id)
                seq = s.seq
            if finished and not page:
                return
            await asyncio.sleep(0)

    reader = asyncio.create_task(follow())
    await asyncio.gather(*(write(w, s) for w, s in enumerate(writers, start=1)))
    done.set()
    await reader
    assert len(seen) == len(set(seen)) == 4 * 15 * 10
    for s in stores:
        await s.close()


async def test_recent_events_of_a_session_or_user_oldest_first(store: ControlStore) -> None:
    await store.append_events(
        "shop",
        [
            event(1, session_id="a", user_id="u"),
            event(5, session_id="a", user_id="u"),
            event(3, session_id="a"),
            event(4, session_id="b", user_id="u"),
            event(2, session_id="a", user_id="u"),
        ],
    )
    await store.append_events("outlet", [event(9, session_id="a", user_id="u")])
    by_session = await store.recent_events("shop", session_id="a", limit=3)
    assert [s.event.event_id for s in by_session] == ["e2", "e3", "e5"]  # the latest 3, by time
    by_user = await store.recent_events("shop", user_id="u")
    assert [s.event.event_id for s in by_user] == ["e1", "e2", "e4", "e5"]
    assert await store.recent_events("shop", session_id="nobody") == []
    assert await store.recent_events("shop") == []


async def test_pruning_deletes_old_events_and_keeps_the_append_order(store: ControlStore) -> None:
    await store.append_events("shop", [event(n) for n in range(10)])
    assert await store.prune_events(T0 + timedelta(seconds=4)) == 4
    left = await store.events_after(0, 100)
    assert [s.event.event_id for s in left] == [f"e{n}" for n in range(4, 10)]
    last = left[-1].seq
    assert await store.prune_events(T0 + timedelta(days=1)) == 6
    await store.append_events("shop", [event(50)])
    after = await store.events_after(0, 10)
    assert [s.event.event_id for s in after] == ["e50"]
    assert after[0].seq > last  # never reused: a follower at `last` still sees it
    assert await store.append_events("shop", [event(4)]) == 1  # a pruned id is new again


def shown(request_id: str, at: datetime, **changes: object) -> Impression:
    base = Impression(
        catalog="shop",
        request_id=request_id,
        shown_by="search",
        ranking="vector",
        item_ids=("item1", "item2", "item3"),
        at=at,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def test_impressions_round_trip_first_record_wins(store: ControlStore) -> None:
    first = shown("r1", T0, experiment="rr", variant="llm", ranking="llm")
    await store.record_impressions([first, shown("r2", T0), shown("r1", T0, ranking="vector")])
    await store.record_impressions([shown("r1", T0 + timedelta(hours=1))])
    await store.record_impressions([])
    found = {i.request_id: i for i in await store.get_impressions("shop", ["r1", "r2", "nope", "r1"])}
    assert found["r1"] == first
    assert set(found) == {"r1", "r2"}
    assert await store.get_impressions("outlet", ["r1"]) == []
    many = [shown(f"m{n}", T0) for n in range(1200)]  # past SQLite's IN-list chunk
    await store.record_impressions(many)
    assert len(await store.get_impressions("shop", [i.request_id for i in many])) == 1200


async def test_counts_and_attributed_events_in_a_time_window(store: ControlStore) -> None:
    await store.record_impressions(
        [
            shown("r1", T0, experiment="rr", variant="a"),
            shown("r2", T0 + timedelta(minutes=1), experiment="rr", variant="b", ranking="llm"),
            shown("r3", T0 + timedelta(minutes=2), experiment="rr", variant="a"),
            shown("old", T0 - timedelta(days=1)),
            shown("r4", T0, catalog="outlet"),
        ]
    )
    await store.append_events(
        "shop",
        [
            event(1, type="click", item_id="item1", request_id="r1"),
            event(2, type="purchase", item_id="item9", request_id="r1"),  # not shown by r1
            event(3, type="click", item_id="item2", request_id="r2"),
            event(4, type="click", item_id="item2", request_id="old"),
            event(5, type="view", item_id="item2"),
        ],
    )
    window = (T0, T0 + timedelta(hours=1))
    assert await store.impression_counts("shop", *window) == {
        ImpressionGroup("search", "vector", "rr", "a"): 2,
        ImpressionGroup("search", "llm", "rr", "b"): 1,
    }
    attributed = await store.attributed_events("shop", *window)
    assert [(a.impression.request_id, a.type, a.item_id) for a in attributed] == [
        ("r1", "click", "item1"),
        ("r1", "purchase", "item9"),
        ("r2", "click", "item2"),
    ]
    assert attributed[0].impression.item_ids == ("item1", "item2", "item3")
    assert await store.prune_impressions(T0) == 1  # "old"; outlet's r4 is not older than T0
    assert await store.get_impressions("shop", ["old"]) == []


async def test_experiments_add_list_stop(store: ControlStore) -> None:
    rr = Experiment(
        catalog="shop",
        name="rerank-llm",
        unit="user",
        variants=(Variant("control", 1.0, rerank="none"), Variant("llm", 3.0, rerank="llm", blend=0.5)),
        routes=("search", "similar"),
        created_at=T0,
    )
    other = dataclasses.replace(rr, catalog="outlet", unit="session", created_at=T0 + timedelta(seconds=1))
    await store.add_experiment(rr)
    await store.add_experiment(other)
    with pytest.raises(AlreadyExists):
        await store.add_experiment(rr)
    assert await store.list_experiments("shop") == [rr]
    assert await store.list_experiments() == [other, rr]  # by catalog
    assert await store.stop_experiment("shop", "rerank-llm", T0 + timedelta(days=1)) is True
    assert await store.stop_experiment("shop", "rerank-llm", T0 + timedelta(days=2)) is True
    stopped = (await store.list_experiments("shop"))[0]
    assert stopped.stopped_at == T0 + timedelta(days=1)
    assert not stopped.active
    assert await store.stop_experiment("shop", "nope", T0) is False


_KILLED_WRITER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from datetime import UTC, datetime
    from pathlib import Path
    from app.adapters.sqlite_store import SQLiteControlStore
    from app.domain.events import Event

    async def main() -> None:
        store = SQLiteControlStore(Path(sys.argv[1]))
        await store.migrate()
        events = [Event(f"k{n}", "purchase", f"i{n}", "s", datetime.now(UTC)) for n in range(100)]
        stored = await store.append_events("shop", events)
        print(stored, flush=True)  # the acknowledgement
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint, no atexit

    asyncio.run(main())
    """
)


def test_an_acknowledged_sqlite_batch_survives_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "control.db"
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.strip() == "100"

    async def read() -> int:
        store = SQLiteControlStore(db)
        try:
            return len(await store.events_after(0, 1000))
        finally:
            await store.close()

    assert asyncio.run(read()) == 100
