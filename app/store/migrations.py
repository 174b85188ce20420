"""Versioned schema migrations: `migrations/<dialect>/NNNN_name.sql`, applied in order, once.

Each adapter applies them under its database's own lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: a
transaction-scoped advisory lock), re-reading `schema_migrations` inside the lock, so two
processes starting together apply each version exactly once and the second one simply finds it
done. Each version runs in one transaction with its `schema_migrations` row (both dialects have
transactional DDL). A version's SHA-256 is recorded: editing an applied migration is refused
(StoreIncompatible) instead of silently diverging between databases; add a new version instead.

Rolling deploys: a migration must leave the schema usable by the previous release (add tables
and nullable columns; drop in a later release). A database ahead of this code is therefore
accepted (logged), not refused.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.domain.errors import StoreIncompatible

Dialect = Literal["sqlite", "postgres"]
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def load(dialect: Dialect, root: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The dialect's migrations in version order: unique versions from 1 up. A gap is allowed: a
    number can be reserved by a change developed side by side and not shipped yet (0002 and 0003
    were handed out together); `pending` applies whatever a database lacks, gaps filled later."""
    found = []
    for path in sorted((root / dialect).glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"{path}: a migration is named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if not versions or versions[0] != 1 or len(set(versions)) != len(versions):
        raise ValueError(f"{root / dialect}: migration versions must be unique, from 1 up, got {versions}")
    return found


def pending(migrations: Sequence[Migration], applied: Mapping[int, str]) -> list[Migration]:
    """What is left to apply, after checking that what was applied is what we ship."""
    for m in migrations:
        if m.version in applied and applied[m.version] != m.checksum:
            raise StoreIncompatible(
                f"migration {m.version:04d}_{m.name} was changed after it was applied; "
                "ship schema changes as a new migration"
            )
    return [m for m in migrations if m.version not in applied]


def sqlite_statements(sql: str) -> list[str]:
    """Split a script into statements the way SQLite's parser does (sqlite3.complete_statement
    knows about strings, comments and trigger bodies), so each runs inside our own transaction:
    `executescript` would commit first."""
    statements, buffer = [], ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer.strip()[:80]!r}")
    return statements
