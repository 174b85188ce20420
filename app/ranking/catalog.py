"""Per-catalog ranking context (statistics + product-type detector), read from the index.

Built from what the index stores (every product's payload and dense vector), in a worker thread:
for every catalog at start-up (`warm`, before the server answers: 4-12 s for the 19,406-product
Icecat catalog on 2 shared cores), for a catalog created later the first time it is ranked; and
re-checked every `ttl_s`: the catalog's fingerprints
(product id -> content hash) are re-read and the statistics rebuilt only if they changed. Until a
catalog's context is ready, `get(..., wait=False)` answers None and the ranking stage serves the
retrieval order (fallback "ranker_warming"); a failed build is retried after `retry_s`.

Catalog writes in this process are heard at once (`catalog_changed`): changed products mark the
catalog's context stale (a search rebuilds it in the background, serving the old one meanwhile,
as after the TTL), though not sooner than `rebuild_gap_s` after the last build: a stream of price
and stock patches must not keep a core busy rebuilding (4-12 s per Icecat build). A catalog
dropped or created is forgotten, its context freed and a build under way not kept, so a catalog
recreated under the name never ranks with the old one's statistics.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

import anyio.to_thread
import numpy as np
import structlog

from app.domain.catalog_changes import CatalogChange
from app.domain.models import Product, Vector
from app.heap import trim_heap
from app.ports import VectorIndex
from app.ranking.query_types import ProductTypes
from app.ranking.stats import CatalogStats, build_stats

log = structlog.get_logger("aisle.ranking")
_BATCH = 512


@dataclass(frozen=True, slots=True)
class RankingContext:
    stats: CatalogStats
    types: ProductTypes
    signature: str


def build_context(
    products: list[Product], vectors: Mapping[str, Vector | np.ndarray], signature: str = ""
) -> RankingContext:
    stats = build_stats(products, vectors)
    return RankingContext(stats, ProductTypes.from_stats(stats), signature)


def _signature(fingerprints: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for product_id in sorted(fingerprints):
        digest.update(f"{product_id}\t{fingerprints[product_id]}\n".encode())
    return digest.hexdigest()


class CatalogContexts:
    def __init__(
        self, index: VectorIndex, *, ttl_s: float = 300.0, retry_s: float = 30.0, rebuild_gap_s: float = 30.0
    ) -> None:
        self._index = index
        self._ttl = ttl_s
        self._retry = retry_s
        self._gap = min(rebuild_gap_s, ttl_s)
        self._ready: dict[str, tuple[float, RankingContext]] = {}  # catalog -> (checked at, context)
        self._building: dict[str, asyncio.Task[RankingContext | None]] = {}
        self._failed: dict[str, float] = {}  # catalog -> monotonic time of the last failure
        self._missed: set[str] = set()  # changed while a build was under way: keep that one stale
        self.last_error: dict[str, str] = {}

    async def catalog_changed(self, change: CatalogChange) -> None:
        """A `CatalogListener` (see the module's docstring)."""
        catalog = change.catalog
        if change.catalog_replaced:
            self._ready.pop(catalog, None)
            self._failed.pop(catalog, None)
            self.last_error.pop(catalog, None)
            self._missed.discard(catalog)
            self._building.pop(catalog, None)  # the task runs on; `_refresh` sees it is not kept
            return
        ready = self._ready.get(catalog)
        if ready is not None:  # stale `rebuild_gap_s` after it was built: the next `get` then rebuilds
            self._ready[catalog] = (min(ready[0], self._stale_after_gap(ready[0])), ready[1])
        if catalog in self._building:
            self._missed.add(catalog)

    async def get(self, catalog: str, *, wait: bool) -> RankingContext | None:
        now = time.monotonic()
        ready = self._ready.get(catalog)
        stale = ready is None or now - ready[0] > self._ttl
        if stale and catalog not in self._building and now - self._failed.get(catalog, -1e9) > self._retry:
            self._building[catalog] = asyncio.get_running_loop().create_task(self._refresh(catalog))
        task = self._building.get(catalog)
        if ready is None and task is not None and wait:
            return await asyncio.shield(task)
        return ready[1] if ready is not None else None

    async def warm(self) -> None:
        try:
            catalogs = await self._index.catalogs()
        except Exception as e:  # the index may be down at start-up; requests will retry
            log.warning("ranking_warm_failed", error=f"{type(e).__name__}: {e}")
            return
        for info in catalogs:
            await self.get(info.name, wait=True)

    def _stale_after_gap(self, checked: float) -> float:
        """A "checked at" time that makes a context built at `checked` stale `rebuild_gap_s` later."""
        return checked - (self._ttl - self._gap)

    def _current(self, catalog: str) -> bool:
        """Whether the running build is still the catalog's (not one its drop orphaned)."""
        return self._building.get(catalog) is asyncio.current_task()

    async def _refresh(self, catalog: str) -> RankingContext | None:
        self._missed.discard(catalog)
        try:
            fingerprints = await self._index.fingerprints(catalog)
            signature = _signature(fingerprints)
            ready = self._ready.get(catalog)
            if ready is not None and ready[1].signature == signature:
                context = ready[1]
            else:
                started = time.perf_counter()
                ids = sorted(fingerprints)
                products: list[Product] = []
                vectors: dict[str, np.ndarray] = {}
                for start in range(0, len(ids), _BATCH):
                    for record in await self._index.retrieve(catalog, ids[start : start + _BATCH]):
                        products.append(record.product)
                        # float32 at once: 19,406 x 384 Python floats held until the build left
                        # ~380 MB of fragmented heap behind (RSS, docs/performance.md)
                        vectors[record.product.id] = np.asarray(record.vector, dtype=np.float32)
                products.sort(key=lambda p: p.id)
                context = await anyio.to_thread.run_sync(build_context, products, vectors, signature)
                count = len(products)
                del products, vectors  # before the trim: the build's inputs are the bulk of it
                await anyio.to_thread.run_sync(trim_heap)
                log.info(
                    "ranking_context_built",
                    catalog=catalog,
                    products=count,
                    seconds=round(time.perf_counter() - started, 2),
                )
            if not self._current(catalog):
                return context  # the catalog was dropped meanwhile: its waiters get it, nobody keeps it
            checked = time.monotonic()
            if catalog in self._missed:  # changed while this build read the index: may lack it
                checked = self._stale_after_gap(checked)
            self._ready[catalog] = (checked, context)
            self._failed.pop(catalog, None)
            self.last_error.pop(catalog, None)
            return context
        except Exception as e:
            if not self._current(catalog):
                return None
            self._failed[catalog] = time.monotonic()
            self.last_error[catalog] = f"{type(e).__name__}: {e}"
            log.warning("ranking_context_failed", catalog=catalog, error=self.last_error[catalog])
            return None
        finally:
            if self._current(catalog):
                self._building.pop(catalog, None)
                self._missed.discard(catalog)
