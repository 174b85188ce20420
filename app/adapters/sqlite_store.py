"""`ControlStore` on embedded SQLite: `$AISLE_DATA_DIR/control.db`, the default.

stdlib sqlite3, run in worker threads (never on the event loop), one connection per thread (a
sqlite3 connection must not be shared between threads mid-statement). WAL lets readers go on
while one writer writes, across threads and processes (the server and `aisle keys` on the same
host); writes take the lock up front (BEGIN IMMEDIATE) and wait up to `timeout_s` for it.
synchronous=FULL: a write is on disk when it returns (an acknowledged event batch included: one
fsync per batch, sqlite_events.py).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio.to_thread

from app.adapters.sqlite_events import SQLiteEventTables
from app.domain.complements import ComplementMap, ComplementSource
from app.domain.control_plane import ApiKey, CatalogSettings, Scope
from app.domain.errors import AlreadyExists, StoreUnavailable
from app.store.migrations import Migration, load, pending, sqlite_statements

T = TypeVar("T")
# What `delete_catalog` deletes with the catalog's settings (keys keep their binding to the name).
_CATALOG_TABLES = ("complement_maps", "events", "impressions", "experiments")


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _key(row: sqlite3.Row) -> ApiKey:
    catalogs = row["catalogs"]
    created = _parse_time(row["created_at"])
    assert created is not None  # NOT NULL column
    return ApiKey(
        id=row["id"],
        name=row["name"],
        secret_hash=row["secret_hash"],
        scopes=frozenset(cast(list[Scope], json.loads(row["scopes"]))),
        catalogs=None if catalogs is None else tuple(json.loads(catalogs)),
        created_at=created,
        revoked_at=_parse_time(row["revoked_at"]),
        rate_per_s=row["rate_per_s"],
        burst=row["burst"],
    )


def _catalog(row: sqlite3.Row) -> CatalogSettings:
    created = _parse_time(row["created_at"])
    assert created is not None
    return CatalogSettings(name=row["name"], created_at=created, display_name=row["display_name"])


class SQLiteControlStore(SQLiteEventTables):  # events, impressions, experiments: sqlite_events.py
    backend = "sqlite"

    def __init__(
        self, path: Path, *, timeout_s: float = 5.0, migrations: Sequence[Migration] | None = None
    ) -> None:
        self._path = path
        self._timeout_s = timeout_s
        self._migrations = list(migrations) if migrations is not None else load("sqlite")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    # -- plumbing ---------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise StoreUnavailable("the control-plane store is closed")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN ourselves; check_same_thread=False only so close()
        # may close it from another thread: each connection is used by its own thread.
        conn = sqlite3.connect(
            self._path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            try:
                return fn(self._connection())
            except sqlite3.IntegrityError as e:
                raise AlreadyExists(str(e)) from e
            except (sqlite3.Error, OSError) as e:
                raise StoreUnavailable(f"control-plane store {self._path}: {e}") from e

        return await anyio.to_thread.run_sync(call)

    @staticmethod
    def _write(conn: sqlite3.Connection, statements: Sequence[tuple[str, Sequence[Any]]]) -> int:
        """Run statements in one write transaction; the total number of rows they changed."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            changed = sum(conn.execute(sql, params).rowcount for sql, params in statements)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return changed

    # -- lifecycle --------------------------------------------------------------------------

    async def migrate(self) -> list[int]:
        def apply(conn: sqlite3.Connection) -> list[int]:
            conn.execute("BEGIN IMMEDIATE")  # the database's write lock: one migrator at a time
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
                applied = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
                done = []
                for m in pending(self._migrations, applied):
                    for statement in sqlite_statements(m.sql):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                        (m.version, m.name, m.checksum, _time(datetime.now(UTC))),
                    )
                    done.append(m.version)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return done

        return await self._run(apply)

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._all = self._all, []
        for conn in connections:
            conn.close()

    # -- keys -------------------------------------------------------------------------------

    async def add_key(self, key: ApiKey) -> None:
        row = (
            key.id,
            key.name,
            key.secret_hash,
            json.dumps(sorted(key.scopes)),
            None if key.catalogs is None else json.dumps(list(key.catalogs)),
            key.rate_per_s,
            key.burst,
            _time(key.created_at),
            None if key.revoked_at is None else _time(key.revoked_at),
        )
        await self._run(
            lambda c: self._write(c, [("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)])
        )

    async def get_key(self, key_id: str) -> ApiKey | None:
        row = await self._run(
            lambda c: c.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        )
        return None if row is None else _key(row)

    async def list_keys(self) -> list[ApiKey]:
        rows = await self._run(
            lambda c: c.execute("SELECT * FROM api_keys ORDER BY created_at, id").fetchall()
        )
        return [_key(r) for r in rows]

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        def revoke(c: sqlite3.Connection) -> bool:
            self._write(
                c,
                [
                    (
                        "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                        (_time(at), key_id),
                    )
                ],
            )
            return c.execute("SELECT 1 FROM api_keys WHERE id = ?", (key_id,)).fetchone() is not None

        return await self._run(revoke)

    # -- catalogs ---------------------------------------------------------------------------

    async def add_catalog(self, settings: CatalogSettings) -> bool:
        row = (settings.name, settings.display_name, _time(settings.created_at))
        changed = await self._run(
            lambda c: self._write(c, [("INSERT OR IGNORE INTO catalogs VALUES (?, ?, ?)", row)])
        )
        return changed == 1

    async def put_catalog(self, settings: CatalogSettings) -> None:
        row = (settings.name, settings.display_name, _time(settings.created_at))
        await self._run(lambda c: self._write(c, [("INSERT OR REPLACE INTO catalogs VALUES (?, ?, ?)", row)]))

    async def get_catalog(self, name: str) -> CatalogSettings | None:
        row = await self._run(
            lambda c: c.execute("SELECT * FROM catalogs WHERE name = ?", (name,)).fetchone()
        )
        return None if row is None else _catalog(row)

    async def list_catalogs(self) -> list[CatalogSettings]:
        rows = await self._run(lambda c: c.execute("SELECT * FROM catalogs ORDER BY name").fetchall())
        return [_catalog(r) for r in rows]

    async def delete_catalog(self, name: str) -> bool:
        def delete(c: sqlite3.Connection) -> bool:
            c.execute("BEGIN IMMEDIATE")
            try:
                for table in _CATALOG_TABLES:
                    c.execute(f"DELETE FROM {table} WHERE catalog = ?", (name,))  # a closed set of names
                deleted = c.execute("DELETE FROM catalogs WHERE name = ?", (name,)).rowcount
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return deleted == 1

        return await self._run(delete)

    # -- complement maps --------------------------------------------------------------------

    async def get(self, catalog: str, source: ComplementSource) -> ComplementMap | None:
        row = await self._run(
            lambda c: c.execute(
                "SELECT provenance, complements FROM complement_maps WHERE catalog = ? AND source = ?",
                (catalog, source),
            ).fetchone()
        )
        if row is None:
            return None
        complements = {str(k): tuple(str(x) for x in v) for k, v in json.loads(row["complements"]).items()}
        return ComplementMap(source, complements, row["provenance"])

    async def put(self, catalog: str, value: ComplementMap) -> None:
        row = (
            catalog,
            value.source,
            value.provenance,
            json.dumps({k: list(v) for k, v in value.complements.items()}),
            _time(datetime.now(UTC)),
        )
        await self._run(
            lambda c: self._write(c, [("INSERT OR REPLACE INTO complement_maps VALUES (?, ?, ?, ?, ?)", row)])
        )

    # -- complement-map files imported (migration 0004) -----------------------------------

    async def imported_files(self) -> set[str]:
        rows = await self._run(lambda c: c.execute("SELECT file FROM complement_imports").fetchall())
        return {r["file"] for r in rows}

    async def import_complement_file(self, file: str, catalog: str, value: ComplementMap) -> bool:
        now = _time(datetime.now(UTC))
        row = (
            catalog,
            value.source,
            value.provenance,
            json.dumps({k: list(v) for k, v in value.complements.items()}),
            now,
        )

        def once(c: sqlite3.Connection) -> bool:
            c.execute("BEGIN IMMEDIATE")
            try:
                if c.execute("INSERT OR IGNORE INTO complement_imports VALUES (?, ?)", (file, now)).rowcount:
                    stored = c.execute(
                        "INSERT OR IGNORE INTO complement_maps VALUES (?, ?, ?, ?, ?)", row
                    ).rowcount
                else:
                    stored = 0
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return stored == 1

        return await self._run(once)
