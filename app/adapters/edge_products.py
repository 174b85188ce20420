"""Decoded products by point id, for `EdgeVectorIndex.query` (issue #19, docs/performance.md).

Why: a served search asks the engine for the ranker's 100 candidates. With payloads, the engine
call cost 3.3 ms of CPU per query on the full Icecat catalog, 0.34 ms without: reading 100 stored
payloads and turning them into Python dicts and Products was ~90% of it, and qdrant-edge-py holds
the GIL for the whole call, so that time was serial for the whole process. The query now asks for
ids and scores only and takes the products from here; misses are fetched with one `retrieve`.

Coherent because one process owns a shard (its lock) and every write to it goes through the same
adapter, which calls `forget` after writing. A fill that started before a write is dropped (the
generation check), so a concurrent query cannot put back what a write replaced. Bounded: past
`capacity` products, counted over every catalog together, the oldest filled go first, whichever
catalog they are in (the whole 19,406-product catalog is ~62 MB decoded; a per-catalog bound let
memory grow with the number of catalogs).
Reads take no lock (a dict lookup is atomic under the GIL); fills and evictions take one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from app.adapters.payload import HASH_FIELD, from_payload
from app.domain.models import Product

DEFAULT_CAPACITY = 50_000
Entry = tuple[Product, str]  # the product and its content hash
PointKey = UUID | str | int  # what the engine returns as a point id


class ProductCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._entries: dict[str, dict[PointKey, Entry]] = {}
        self._order: dict[tuple[str, PointKey], None] = {}  # every cached entry, oldest filled first
        self._generation: dict[str, int] = {}
        self._lock = threading.Lock()

    def lookup(
        self,
        catalog: str,
        ids: Sequence[PointKey],
        fetch: Callable[[list[PointKey]], Iterable[tuple[PointKey, Mapping[str, Any]]]],
    ) -> list[Entry | None]:
        """Each id's entry, fetching the missing ones' payloads in one call; None for an id the
        fetch did not return (deleted since the query ran)."""
        entries = self._entries.get(catalog) or {}
        found: list[Entry | None] = [entries.get(i) for i in ids]
        missing = [i for i, entry in zip(ids, found, strict=True) if entry is None]
        if not missing:
            return found
        generation = self._generation.get(catalog, 0)
        fetched = {i: (from_payload(p), str(p.get(HASH_FIELD, ""))) for i, p in fetch(missing)}
        self._fill(catalog, generation, fetched)
        return [entry if entry is not None else fetched.get(i) for i, entry in zip(ids, found, strict=True)]

    def _fill(self, catalog: str, generation: int, fetched: dict[PointKey, Entry]) -> None:
        with self._lock:
            if self._generation.get(catalog, 0) != generation:
                return  # a write landed while these were read: they may be stale
            entries = self._entries.setdefault(catalog, {})
            entries.update(fetched)
            self._order.update(dict.fromkeys((catalog, i) for i in fetched))
            while len(self._order) > self._capacity:
                oldest, point = next(iter(self._order))
                del self._order[oldest, point]
                self._evict(oldest, point)

    def _evict(self, catalog: str, point: PointKey) -> None:
        entries = self._entries.get(catalog)
        if entries is not None:
            entries.pop(point, None)
            if not entries:
                del self._entries[catalog]

    def __len__(self) -> int:
        """Products cached, over every catalog."""
        return len(self._order)

    def forget(self, catalog: str, ids: Iterable[PointKey] | None = None) -> None:
        """After a write: drop these ids (None: the whole catalog)."""
        with self._lock:
            self._generation[catalog] = self._generation.get(catalog, 0) + 1
            if ids is None:
                for i in self._entries.pop(catalog, {}):
                    del self._order[catalog, i]
                return
            entries = self._entries.get(catalog)
            if entries:
                for i in ids:
                    if entries.pop(i, None) is not None:
                        del self._order[catalog, i]
