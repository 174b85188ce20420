"""`ControlStore` in process memory: what an app built with ready-made `Deps` and no store uses
(tests, the eval runner), as `MemoryCache` is for the cache. Passes the store contract suite;
nothing survives the process, so `aisle serve` never uses it."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from app.adapters.memory_events import MemoryEventTables
from app.domain.complements import ComplementMap, ComplementSource
from app.domain.control_plane import ApiKey, CatalogSettings
from app.domain.errors import AlreadyExists


class MemoryControlStore(MemoryEventTables):  # events, impressions, experiments: memory_events.py
    backend = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[str, ApiKey] = {}
        self._catalogs: dict[str, CatalogSettings] = {}
        self._maps: dict[tuple[str, ComplementSource], ComplementMap] = {}
        self._imported: set[str] = set()

    async def migrate(self) -> list[int]:
        return []

    async def close(self) -> None:
        pass

    async def add_key(self, key: ApiKey) -> None:
        if key.id in self._keys:
            raise AlreadyExists(f"API key {key.id!r} exists")
        self._keys[key.id] = key

    async def get_key(self, key_id: str) -> ApiKey | None:
        return self._keys.get(key_id)

    async def list_keys(self) -> list[ApiKey]:
        return sorted(self._keys.values(), key=lambda k: (k.created_at, k.id))

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        key = self._keys.get(key_id)
        if key is None:
            return False
        if key.revoked_at is None:
            self._keys[key_id] = dataclasses.replace(key, revoked_at=at)
        return True

    async def add_catalog(self, settings: CatalogSettings) -> bool:
        if settings.name in self._catalogs:
            return False
        self._catalogs[settings.name] = settings
        return True

    async def put_catalog(self, settings: CatalogSettings) -> None:
        self._catalogs[settings.name] = settings

    async def get_catalog(self, name: str) -> CatalogSettings | None:
        return self._catalogs.get(name)

    async def list_catalogs(self) -> list[CatalogSettings]:
        return [self._catalogs[n] for n in sorted(self._catalogs)]

    async def delete_catalog(self, name: str) -> bool:
        for source in ("merchandiser", "learned"):
            self._maps.pop((name, source), None)
        self._forget_catalog(name)  # its events, impressions, experiments
        return self._catalogs.pop(name, None) is not None

    async def get(self, catalog: str, source: ComplementSource) -> ComplementMap | None:
        return self._maps.get((catalog, source))

    async def put(self, catalog: str, value: ComplementMap) -> None:
        self._maps[(catalog, value.source)] = value

    async def imported_files(self) -> set[str]:
        return set(self._imported)

    async def import_complement_file(self, file: str, catalog: str, value: ComplementMap) -> bool:
        if file in self._imported:
            return False
        self._imported.add(file)
        return self._maps.setdefault((catalog, value.source), value) is value
