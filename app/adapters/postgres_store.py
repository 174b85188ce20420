"""`ControlStore` on PostgreSQL (`AISLE_DATABASE_URL`): several replicas share keys, catalog
settings and complement maps.

psycopg 3, async, through a small connection pool opened on first use. Statements run in
autocommit unless they need a transaction; every psycopg or pool error leaves this file as
StoreUnavailable (HTTP 503). Migrations serialise on a transaction-scoped advisory lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from app.adapters.postgres_events import PostgresEventTables
from app.domain.complements import ComplementMap, ComplementSource
from app.domain.control_plane import ApiKey, CatalogSettings, Scope
from app.domain.errors import AlreadyExists, StoreUnavailable
from app.store.migrations import Migration, load, pending

T = TypeVar("T")
Conn = psycopg.AsyncConnection[dict[str, Any]]
# Any constant shared by every Aisle process: pg_advisory_xact_lock(key) serialises migrators.
_MIGRATION_LOCK = 0x616973_6C65  # "aisle"
# What `delete_catalog` deletes with the catalog's settings (keys keep their binding to the name).
_CATALOG_TABLES = ("complement_maps", "events", "impressions", "experiments")


def _key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        secret_hash=row["secret_hash"],
        scopes=frozenset(cast(list[Scope], row["scopes"])),
        catalogs=None if row["catalogs"] is None else tuple(row["catalogs"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        rate_per_s=row["rate_per_s"],
        burst=row["burst"],
    )


def _catalog(row: dict[str, Any]) -> CatalogSettings:
    return CatalogSettings(name=row["name"], created_at=row["created_at"], display_name=row["display_name"])


class PostgresControlStore(PostgresEventTables):  # events, impressions, experiments: postgres_events.py
    backend = "postgres"

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 4,
        timeout_s: float = 5.0,
        migrations: Sequence[Migration] | None = None,
    ) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._migrations = list(migrations) if migrations is not None else load("postgres")
        self._pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            open=False,
            timeout=timeout_s,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "connect_timeout": max(1, round(timeout_s)),
                "application_name": "aisle",
            },
            connection_class=psycopg.AsyncConnection[dict[str, Any]],
            name="aisle-control",
        )
        self._opened = False
        self._open_lock = asyncio.Lock()

    async def _ensure_open(self) -> None:
        if self._opened:
            return
        async with self._open_lock:
            if not self._opened:
                await self._pool.open(wait=False)
                self._opened = True

    async def _run(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        try:
            await self._ensure_open()
            async with self._pool.connection() as conn:
                return await fn(conn)
        except psycopg.errors.UniqueViolation as e:
            raise AlreadyExists(str(e).splitlines()[0]) from e
        except (psycopg.Error, PoolTimeout, OSError) as e:
            raise StoreUnavailable(
                f"control-plane store (PostgreSQL): {str(e).splitlines()[0] if str(e) else type(e).__name__}"
            ) from e

    async def _fetchone(self, sql: str, params: Sequence[Any]) -> dict[str, Any] | None:
        async def go(conn: Conn) -> dict[str, Any] | None:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchone()

        return await self._run(go)

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        async def go(conn: Conn) -> list[dict[str, Any]]:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall()

        return await self._run(go)

    async def _rowcount(self, sql: str, params: Sequence[Any]) -> int:
        async def go(conn: Conn) -> int:
            cursor = await conn.execute(sql, params)
            return cursor.rowcount

        return await self._run(go)

    # -- lifecycle --------------------------------------------------------------------------

    async def migrate(self) -> list[int]:
        async def apply(conn: Conn) -> list[int]:
            done = []
            async with conn.transaction():
                await conn.execute("SET LOCAL statement_timeout = 0")
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
                )
                cursor = await conn.execute("SELECT version, checksum FROM schema_migrations")
                applied = {row["version"]: row["checksum"] for row in await cursor.fetchall()}
                for m in pending(self._migrations, applied):
                    await conn.execute(m.sql.encode("utf-8"))  # several statements, no parameters
                    await conn.execute(
                        "INSERT INTO schema_migrations VALUES (%s, %s, %s, now())",
                        (m.version, m.name, m.checksum),
                    )
                    done.append(m.version)
            return done

        return await self._run(apply)

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()
            self._opened = False

    # -- keys -------------------------------------------------------------------------------

    async def add_key(self, key: ApiKey) -> None:
        await self._rowcount(
            "INSERT INTO api_keys VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                key.id,
                key.name,
                key.secret_hash,
                sorted(key.scopes),
                None if key.catalogs is None else list(key.catalogs),
                key.rate_per_s,
                key.burst,
                key.created_at,
                key.revoked_at,
            ),
        )

    async def get_key(self, key_id: str) -> ApiKey | None:
        row = await self._fetchone("SELECT * FROM api_keys WHERE id = %s", (key_id,))
        return None if row is None else _key(row)

    async def list_keys(self) -> list[ApiKey]:
        return [_key(r) for r in await self._fetchall("SELECT * FROM api_keys ORDER BY created_at, id")]

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        row = await self._fetchone(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, %s) WHERE id = %s RETURNING id",
            (at, key_id),
        )
        return row is not None

    # -- catalogs ---------------------------------------------------------------------------

    async def add_catalog(self, settings: CatalogSettings) -> bool:
        changed = await self._rowcount(
            "INSERT INTO catalogs VALUES (%s, %s, %s) ON CONFLICT (name) DO NOTHING",
            (settings.name, settings.display_name, settings.created_at),
        )
        return changed == 1

    async def put_catalog(self, settings: CatalogSettings) -> None:
        await self._rowcount(
            "INSERT INTO catalogs VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE "
            "SET display_name = EXCLUDED.display_name, created_at = EXCLUDED.created_at",
            (settings.name, settings.display_name, settings.created_at),
        )

    async def get_catalog(self, name: str) -> CatalogSettings | None:
        row = await self._fetchone("SELECT * FROM catalogs WHERE name = %s", (name,))
        return None if row is None else _catalog(row)

    async def list_catalogs(self) -> list[CatalogSettings]:
        return [_catalog(r) for r in await self._fetchall("SELECT * FROM catalogs ORDER BY name")]

    async def delete_catalog(self, name: str) -> bool:
        async def delete(conn: Conn) -> bool:
            async with conn.transaction():
                for table in _CATALOG_TABLES:
                    await conn.execute(f"DELETE FROM {table} WHERE catalog = %s", (name,))
                cursor = await conn.execute("DELETE FROM catalogs WHERE name = %s", (name,))
                return cursor.rowcount == 1

        return await self._run(delete)

    # -- complement maps --------------------------------------------------------------------

    async def get(self, catalog: str, source: ComplementSource) -> ComplementMap | None:
        row = await self._fetchone(
            "SELECT provenance, complements FROM complement_maps WHERE catalog = %s AND source = %s",
            (catalog, source),
        )
        if row is None:
            return None
        complements = {str(k): tuple(str(x) for x in v) for k, v in row["complements"].items()}
        return ComplementMap(source, complements, row["provenance"])

    async def put(self, catalog: str, value: ComplementMap) -> None:
        await self._rowcount(
            "INSERT INTO complement_maps VALUES (%s, %s, %s, %s, now()) ON CONFLICT (catalog, source) "
            "DO UPDATE SET provenance = EXCLUDED.provenance, complements = EXCLUDED.complements, "
            "updated_at = EXCLUDED.updated_at",
            (
                catalog,
                value.source,
                value.provenance,
                Jsonb({k: list(v) for k, v in value.complements.items()}),
            ),
        )

    # -- complement-map files imported (migration 0004) -----------------------------------

    async def imported_files(self) -> set[str]:
        return {r["file"] for r in await self._fetchall("SELECT file FROM complement_imports")}

    async def import_complement_file(self, file: str, catalog: str, value: ComplementMap) -> bool:
        async def once(conn: Conn) -> bool:
            async with conn.transaction():
                cursor = await conn.execute(
                    "INSERT INTO complement_imports VALUES (%s, now()) ON CONFLICT (file) DO NOTHING", (file,)
                )
                if cursor.rowcount != 1:
                    return False
                cursor = await conn.execute(
                    "INSERT INTO complement_maps VALUES (%s, %s, %s, %s, now()) "
                    "ON CONFLICT (catalog, source) DO NOTHING",
                    (
                        catalog,
                        value.source,
                        value.provenance,
                        Jsonb({k: list(v) for k, v in value.complements.items()}),
                    ),
                )
                return cursor.rowcount == 1

        return await self._run(once)
