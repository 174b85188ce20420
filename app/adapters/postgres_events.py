"""The event, impression and experiment tables of `PostgresControlStore` (migration 0003), kept in
their own file: the store class mixes these in and supplies `_run` (a pooled connection, errors
translated).

A batch is one statement (INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING: one round
trip whatever the batch size) in one transaction, committed before the API acknowledges it.

Append order: an identity column hands out numbers when rows are inserted, but concurrent
transactions can commit out of that order, and a follower that has read past seq 12 would never
see a 11 committed a moment later. Event writers therefore take a transaction-scoped advisory lock
first: numbers are drawn and committed one transaction at a time, so visible seqs only grow. The
lock is held for one statement and a commit (about a millisecond), far below the batch rate the
API is built for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import psycopg
from psycopg.types.json import Jsonb

from app.adapters.event_rows import (
    EVENT_COLUMNS,
    IMPRESSION_COLUMNS,
    event_row,
    impression,
    stored_event,
    to_us,
    unit_of,
    variants_json,
    variants_of,
)
from app.domain.events import AttributedEvent, Event, Impression, ImpressionGroup, ShownBy, StoredEvent
from app.domain.experiments import Experiment

T = TypeVar("T")
Conn = psycopg.AsyncConnection[dict[str, Any]]
_APPEND_LOCK = 0x616973_6C65_0E  # "aisle" + events: serialises event writers (append order)
PRUNE_CHUNK = 5000
_EVENT_TYPES = (
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "int[]",
    "text[]",
    "bigint[]",
    "bigint[]",
)


def _experiment(row: dict[str, Any]) -> Experiment:
    return Experiment(
        catalog=row["catalog"],
        name=row["name"],
        unit=unit_of(row["unit"]),
        variants=variants_of(row["variants"]),
        routes=tuple(cast(list[ShownBy], row["routes"])),
        created_at=row["created_at"],
        stopped_at=row["stopped_at"],
    )


def _impression(row: dict[str, Any]) -> Impression:
    return impression(row, row["item_ids"])


class PostgresEventTables:
    async def _run(self, fn: Callable[[Conn], Awaitable[T]]) -> T:  # supplied by the store
        raise NotImplementedError

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        async def go(conn: Conn) -> list[dict[str, Any]]:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall()

        return await self._run(go)

    # -- events -----------------------------------------------------------------------------

    async def append_events(self, catalog: str, events: Sequence[Event]) -> int:
        if not events:
            return 0
        received = to_us(datetime.now(UTC))
        rows = [event_row(catalog, e, received) for e in events]
        columns = [list(c) for c in zip(*rows, strict=True)]
        arrays = ", ".join(f"%s::{t}" for t in _EVENT_TYPES)
        sql = (
            f"INSERT INTO events ({EVENT_COLUMNS}) SELECT * FROM unnest({arrays}) "
            "ON CONFLICT (catalog, event_id) DO NOTHING"
        )

        async def append(conn: Conn) -> int:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_APPEND_LOCK,))
                cursor = await conn.execute(sql, columns)
                return cursor.rowcount

        return await self._run(append)

    async def events_after(self, seq: int, limit: int) -> list[StoredEvent]:
        rows = await self._fetch("SELECT * FROM events WHERE seq > %s ORDER BY seq LIMIT %s", (seq, limit))
        return [stored_event(r) for r in rows]

    async def recent_events(
        self, catalog: str, *, session_id: str | None = None, user_id: str | None = None, limit: int = 50
    ) -> list[StoredEvent]:
        column, value = ("session_id", session_id) if session_id is not None else ("user_id", user_id)
        if value is None:
            return []
        rows = await self._fetch(
            f"SELECT * FROM events WHERE catalog = %s AND {column} = %s ORDER BY at_us DESC, seq DESC LIMIT %s",
            (catalog, value, limit),
        )
        return [stored_event(r) for r in reversed(rows)]

    async def _prune(self, table: str, key: str, before: datetime) -> int:
        sql = f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE at_us < %s LIMIT %s)"

        async def chunk(conn: Conn) -> int:
            cursor = await conn.execute(sql, (to_us(before), PRUNE_CHUNK))
            return cursor.rowcount

        total = 0
        while True:
            deleted = await self._run(chunk)
            total += deleted
            if deleted < PRUNE_CHUNK:
                return total

    async def prune_events(self, before: datetime) -> int:
        return await self._prune("events", "seq", before)

    # -- impressions ------------------------------------------------------------------------

    async def record_impressions(self, impressions: Sequence[Impression]) -> None:
        if not impressions:
            return
        rows = [
            (
                i.catalog,
                i.request_id,
                i.shown_by,
                i.ranking,
                i.experiment,
                i.variant,
                list(i.item_ids),
                to_us(i.at),
            )
            for i in impressions
        ]

        async def record(conn: Conn) -> None:
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    f"INSERT INTO impressions ({IMPRESSION_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (catalog, request_id) DO NOTHING",
                    rows,
                )

        await self._run(record)

    async def get_impressions(self, catalog: str, request_ids: Sequence[str]) -> list[Impression]:
        rows = await self._fetch(
            "SELECT * FROM impressions WHERE catalog = %s AND request_id = ANY(%s)",
            (catalog, list(dict.fromkeys(request_ids))),
        )
        return [_impression(r) for r in rows]

    async def impression_counts(
        self, catalog: str, since: datetime, until: datetime
    ) -> dict[ImpressionGroup, int]:
        rows = await self._fetch(
            "SELECT shown_by, ranking, experiment, variant, COUNT(*) AS n FROM impressions "
            "WHERE catalog = %s AND at_us >= %s AND at_us < %s GROUP BY shown_by, ranking, experiment, variant",
            (catalog, to_us(since), to_us(until)),
        )
        return {
            ImpressionGroup(r["shown_by"], r["ranking"], r["experiment"], r["variant"]): int(r["n"])
            for r in rows
        }

    async def attributed_events(
        self, catalog: str, since: datetime, until: datetime
    ) -> list[AttributedEvent]:
        rows = await self._fetch(
            "SELECT i.*, e.type AS event_type, e.item_id AS event_item FROM impressions i "
            "JOIN events e ON e.catalog = i.catalog AND e.request_id = i.request_id "
            "WHERE i.catalog = %s AND i.at_us >= %s AND i.at_us < %s ORDER BY i.at_us, e.seq",
            (catalog, to_us(since), to_us(until)),
        )
        return [AttributedEvent(_impression(r), r["event_type"], r["event_item"]) for r in rows]

    async def prune_impressions(self, before: datetime) -> int:
        return await self._prune("impressions", "ctid", before)

    # -- experiments ------------------------------------------------------------------------

    async def add_experiment(self, experiment: Experiment) -> None:
        e = experiment

        async def add(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO experiments VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    e.catalog,
                    e.name,
                    e.unit,
                    Jsonb(variants_json(e.variants)),
                    list(e.routes),
                    e.created_at,
                    e.stopped_at,
                ),
            )

        await self._run(add)

    async def list_experiments(self, catalog: str | None = None) -> list[Experiment]:
        rows = await self._fetch(
            "SELECT * FROM experiments WHERE %s::text IS NULL OR catalog = %s ORDER BY catalog, created_at, name",
            (catalog, catalog),
        )
        return [_experiment(r) for r in rows]

    async def stop_experiment(self, catalog: str, name: str, at: datetime) -> bool:
        rows = await self._fetch(
            "UPDATE experiments SET stopped_at = COALESCE(stopped_at, %s) WHERE catalog = %s AND name = %s "
            "RETURNING name",
            (at, catalog, name),
        )
        return bool(rows)
