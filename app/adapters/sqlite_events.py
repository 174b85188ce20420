"""The event, impression and experiment tables of `SQLiteControlStore` (migration 0003), kept in
their own file: the store class mixes these in and supplies `_run` (a worker thread, its own
connection, errors translated).

The write path is one transaction per batch: BEGIN IMMEDIATE, one `executemany` of INSERT OR
IGNORE (the (catalog, event_id) unique index makes a retried event a no-op), COMMIT. The store's
connections run WAL with synchronous=FULL, so COMMIT returns after the WAL is on disk: a batch
the API acknowledged survives kill -9 and power loss. SQLite has one writer at a time, so rowids
(seq) are assigned and committed in order: a follower reading `seq > n` never misses one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

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
from app.domain.events import AttributedEvent, Event, Impression, ImpressionGroup, StoredEvent
from app.domain.experiments import Experiment

T = TypeVar("T")
PRUNE_CHUNK = 5000  # rows deleted per transaction: writers get the lock between chunks
_IN_CHUNK = 500  # ids per IN (...) list (SQLite's default limit is 32766 variables)


def _experiment(row: sqlite3.Row) -> Experiment:
    return Experiment(
        catalog=row["catalog"],
        name=row["name"],
        unit=unit_of(row["unit"]),
        variants=variants_of(row["variants"]),
        routes=tuple(json.loads(row["routes"])),
        created_at=datetime.fromisoformat(row["created_at"]),
        stopped_at=None if row["stopped_at"] is None else datetime.fromisoformat(row["stopped_at"]),
    )


def _impression(row: sqlite3.Row) -> Impression:
    return impression(row, json.loads(row["item_ids"]))


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


class SQLiteEventTables:
    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:  # supplied by the store
        raise NotImplementedError

    @staticmethod
    def _transaction(conn: sqlite3.Connection, work: Callable[[], T]) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return result

    # -- events -----------------------------------------------------------------------------

    async def append_events(self, catalog: str, events: Sequence[Event]) -> int:
        if not events:
            return 0
        received = to_us(datetime.now(UTC))
        rows = [event_row(catalog, e, received) for e in events]
        sql = f"INSERT OR IGNORE INTO events ({EVENT_COLUMNS}) VALUES ({', '.join('?' * 12)})"

        def append(c: sqlite3.Connection) -> int:
            return self._transaction(c, lambda: c.executemany(sql, rows).rowcount)

        return await self._run(append)

    async def events_after(self, seq: int, limit: int) -> list[StoredEvent]:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
            ).fetchall()
        )
        return [stored_event(r) for r in rows]

    async def recent_events(
        self, catalog: str, *, session_id: str | None = None, user_id: str | None = None, limit: int = 50
    ) -> list[StoredEvent]:
        column, value = ("session_id", session_id) if session_id is not None else ("user_id", user_id)
        if value is None:
            return []
        rows = await self._run(
            lambda c: c.execute(
                f"SELECT * FROM events WHERE catalog = ? AND {column} = ? ORDER BY at_us DESC, seq DESC "
                "LIMIT ?",
                (catalog, value, limit),
            ).fetchall()
        )
        return [stored_event(r) for r in reversed(rows)]

    async def _prune(self, table: str, key: str, before: datetime) -> int:
        cutoff = to_us(before)
        sql = f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE at_us < ? LIMIT ?)"

        def chunk(c: sqlite3.Connection) -> int:
            return self._transaction(c, lambda: c.execute(sql, (cutoff, PRUNE_CHUNK)).rowcount)

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
                json.dumps(list(i.item_ids)),
                to_us(i.at),
            )
            for i in impressions
        ]
        sql = f"INSERT OR IGNORE INTO impressions ({IMPRESSION_COLUMNS}) VALUES ({', '.join('?' * 8)})"
        await self._run(lambda c: self._transaction(c, lambda: c.executemany(sql, rows).rowcount))

    async def get_impressions(self, catalog: str, request_ids: Sequence[str]) -> list[Impression]:
        ids = list(dict.fromkeys(request_ids))

        def read(c: sqlite3.Connection) -> list[sqlite3.Row]:
            rows: list[sqlite3.Row] = []
            for start in range(0, len(ids), _IN_CHUNK):
                part = ids[start : start + _IN_CHUNK]
                rows += c.execute(
                    f"SELECT * FROM impressions WHERE catalog = ? AND request_id IN ({', '.join('?' * len(part))})",
                    (catalog, *part),
                ).fetchall()
            return rows

        return [_impression(r) for r in await self._run(read)]

    async def impression_counts(
        self, catalog: str, since: datetime, until: datetime
    ) -> dict[ImpressionGroup, int]:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT shown_by, ranking, experiment, variant, COUNT(*) AS n FROM impressions "
                "WHERE catalog = ? AND at_us >= ? AND at_us < ? "
                "GROUP BY shown_by, ranking, experiment, variant",
                (catalog, to_us(since), to_us(until)),
            ).fetchall()
        )
        return {
            ImpressionGroup(r["shown_by"], r["ranking"], r["experiment"], r["variant"]): r["n"] for r in rows
        }

    async def attributed_events(
        self, catalog: str, since: datetime, until: datetime
    ) -> list[AttributedEvent]:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT i.*, e.type AS event_type, e.item_id AS event_item FROM impressions i "
                "JOIN events e ON e.catalog = i.catalog AND e.request_id = i.request_id "
                "WHERE i.catalog = ? AND i.at_us >= ? AND i.at_us < ? ORDER BY i.at_us, e.seq",
                (catalog, to_us(since), to_us(until)),
            ).fetchall()
        )
        return [AttributedEvent(_impression(r), r["event_type"], r["event_item"]) for r in rows]

    async def prune_impressions(self, before: datetime) -> int:
        return await self._prune("impressions", "rowid", before)

    # -- experiments ------------------------------------------------------------------------

    async def add_experiment(self, experiment: Experiment) -> None:
        e = experiment
        row: tuple[Any, ...] = (
            e.catalog,
            e.name,
            e.unit,
            json.dumps(variants_json(e.variants)),
            json.dumps(list(e.routes)),
            _iso(e.created_at),
            None if e.stopped_at is None else _iso(e.stopped_at),
        )
        sql = "INSERT INTO experiments VALUES (?, ?, ?, ?, ?, ?, ?)"
        await self._run(lambda c: self._transaction(c, lambda: c.execute(sql, row).rowcount))

    async def list_experiments(self, catalog: str | None = None) -> list[Experiment]:
        rows = await self._run(
            lambda c: c.execute(
                "SELECT * FROM experiments WHERE ? IS NULL OR catalog = ? ORDER BY catalog, created_at, name",
                (catalog, catalog),
            ).fetchall()
        )
        return [_experiment(r) for r in rows]

    async def stop_experiment(self, catalog: str, name: str, at: datetime) -> bool:
        def stop(c: sqlite3.Connection) -> bool:
            self._transaction(
                c,
                lambda: (
                    c.execute(
                        "UPDATE experiments SET stopped_at = ? WHERE catalog = ? AND name = ? AND stopped_at IS NULL",
                        (_iso(at), catalog, name),
                    ).rowcount
                ),
            )
            found = c.execute("SELECT 1 FROM experiments WHERE catalog = ? AND name = ?", (catalog, name))
            return found.fetchone() is not None

        return await self._run(stop)
