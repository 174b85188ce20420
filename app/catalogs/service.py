"""`CatalogWrites`: the catalog write use case over the ports, served by the process that owns
the index (docs/catalogs.md).

- Acknowledged means durable: every write ends with `VectorIndex.flush` (a group commit on Edge)
  before the call returns, so a 2xx survives a kill -9 right after it.
- Embedding runs off the event loop on its own bounded limiter (`embed_concurrency` threads),
  apart from the worker threads searches use, so searches keep being served during a large
  upsert. Reading and planning the rows (JSON, content hashes) runs there too.
- Incremental: a row whose content hash matches the stored one is `unchanged` and not written; a
  changed product whose embedded text is the same (a new price, stock, a non-text attribute)
  keeps its stored vector; only new text is embedded.
- Read-modify-write steps (a patch, a commit of planned rows, deletes, a sync) hold a per-catalog
  lock, so a patch never overwrites a concurrent upsert with the version it read. The flush
  happens after the lock is released, so concurrent writers share it. A lock lives while a write
  holds or waits for it (a weak reference otherwise), so names written once are not kept.
- After every change the listeners wired in the composition root hear of it (`CatalogChange`):
  the caches and models kept per catalog elsewhere in the process, which this module never imports.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import anyio
import anyio.to_thread
import structlog
from opentelemetry import trace

from app.catalogs.patch import ProductChanges, apply_changes
from app.catalogs.plan import (
    RawRow,
    Row,
    RowOutcome,
    RowResult,
    RowsPlan,
    Write,
    plan_rows,
    product_ids,
    read_rows,
    stored_vector_fits,
)
from app.domain.catalog_changes import CatalogChange, CatalogListener, ChangeKind
from app.domain.control_plane import CatalogSettings
from app.domain.errors import AlreadyExists, ProductNotFound
from app.domain.lexical import document_vector
from app.domain.models import IndexRecord, Product, Vector, validate_catalog_name
from app.observability.timing import elapsed_ms
from app.ports import CatalogSettingsStore, Embedder, VectorIndex
from embeddings.ingest import DEFAULT_MAX_DELETE_FRACTION, SyncPlan, SyncRefused, full_sync_deletes
from embeddings.text import content_hash, product_text

log = structlog.get_logger("aisle.catalogs")


@dataclass(frozen=True, slots=True)
class CreatedCatalog:
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UpsertReport:
    outcomes: tuple[RowOutcome, ...]
    embedded: int  # products embedded (new text); the other writes kept their stored vector
    dry_run: bool
    timings_ms: dict[str, float]

    def count(self, result: RowResult) -> int:
        return sum(1 for o in self.outcomes if o.result == result)


@dataclass(frozen=True, slots=True)
class PatchReport:
    product: Product
    result: Literal["updated", "unchanged"]
    embedded: bool


@dataclass(frozen=True, slots=True)
class DeleteReport:
    deleted: tuple[str, ...]
    not_found: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SyncReport:
    stored: int  # products the catalog held before
    kept: int  # of those, named by the input
    deleted: tuple[str, ...]  # deleted, or (dry run) that would be
    dry_run: bool
    deletion_skipped: str | None = None  # why nothing was (or would be) deleted
    refused: bool = False  # dry run: the sync would be refused (past the fraction, no force)


@dataclass(slots=True)
class _Timer:
    marks: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def add(self, name: str, since: float) -> None:
        self.marks[name] = round(self.marks.get(name, 0.0) + elapsed_ms(since), 3)

    def done(self) -> dict[str, float]:
        return {**self.marks, "total": round(elapsed_ms(self.started), 3)}


class CatalogWrites:
    def __init__(  # noqa: PLR0913 - keyword-only options, one per setting
        self,
        embedder: Embedder,
        index: VectorIndex,
        store: CatalogSettingsStore,
        *,
        model_id: str,
        listeners: Sequence[CatalogListener] = (),
        embed_batch_size: int = 64,
        embed_concurrency: int = 1,
        max_delete_fraction: float = DEFAULT_MAX_DELETE_FRACTION,
        tracer: trace.Tracer | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._embedder = embedder
        self._index = index
        self._store = store
        self._model_id = model_id
        self._listeners = tuple(listeners)
        self._batch = embed_batch_size
        self._limiter = anyio.CapacityLimiter(embed_concurrency)
        self.max_delete_fraction = max_delete_fraction
        self._tracer = tracer or trace.NoOpTracer()
        self._now = now
        # held by the writers using it: an entry goes when the last of them lets go of it
        self._locks: weakref.WeakValueDictionary[str, anyio.Lock] = weakref.WeakValueDictionary()

    # -- plumbing -------------------------------------------------------------------------

    def _lock(self, catalog: str) -> anyio.Lock:
        lock = self._locks.get(catalog)
        if lock is None:
            lock = self._locks[catalog] = anyio.Lock()
        return lock

    async def _changed(self, catalog: str, kind: ChangeKind, ids: Sequence[str] = ()) -> None:
        change = CatalogChange(catalog, kind, tuple(ids))
        for listener in self._listeners:
            try:
                await listener.catalog_changed(change)
            except Exception:  # the write is done and durable; a cache left behind expires on its TTL
                log.exception("catalog_listener_failed", catalog=catalog, change=kind)

    async def _embed(self, texts: Sequence[str]) -> list[Vector]:
        """In batches, on the write limiter's threads: never on the event loop, never more than
        `embed_concurrency` at once across every write request."""
        vectors: list[Vector] = []
        for start in range(0, len(texts), self._batch):
            chunk = list(texts[start : start + self._batch])
            with self._tracer.start_as_current_span("catalog.embed") as span:
                span.set_attribute("aisle.batch_size", len(chunk))
                vectors += await anyio.to_thread.run_sync(self._embedder.embed, chunk, limiter=self._limiter)
        return vectors

    async def _records(self, catalog: str, writes: Sequence[Write]) -> tuple[list[IndexRecord], int]:
        """Index records for `writes`, reusing a stored vector wherever the embedded text is the
        same; the rest embedded, shortest texts together (less padding). (records, embedded)."""
        updated = [w.product.id for w in writes if not w.is_new]
        stored = {r.product.id: r for r in await self._index.retrieve(catalog, updated)} if updated else {}
        vectors: dict[str, Vector] = {}
        for w in writes:
            record = stored.get(w.product.id)
            if record is not None and stored_vector_fits(record, w.text, self._model_id):
                vectors[w.product.id] = record.vector
        missing = sorted((w for w in writes if w.product.id not in vectors), key=lambda w: len(w.text))
        for w, vector in zip(missing, await self._embed([w.text for w in missing]), strict=True):
            vectors[w.product.id] = vector
        records = [
            IndexRecord(w.product, vectors[w.product.id], w.content_hash, document_vector(w.product, w.text))
            for w in writes
        ]
        return records, len(missing)

    # -- catalogs -------------------------------------------------------------------------

    async def create(self, catalog: str) -> CreatedCatalog:
        """Raises AlreadyExists when the index holds the catalog (its settings are recorded even
        then: a catalog ingested by an earlier release gets them)."""
        validate_catalog_name(catalog)
        created = await self._index.ensure_catalog(catalog, self._embedder.dimension)
        await self._index.flush(catalog)
        settings = CatalogSettings(catalog, self._now())
        if not created:
            await self._store.add_catalog(settings)  # kept if recorded; recorded if not
            raise AlreadyExists(f"catalog {catalog!r} exists")
        await self._store.put_catalog(settings)  # a new catalog: settings a crash left behind go
        await self._changed(catalog, "created")
        return CreatedCatalog(catalog, settings.created_at)

    async def delete(self, catalog: str) -> None:
        """The products, the settings, the complement maps, the events, impressions and
        experiments, and what the process keeps for it (the listeners). Idempotent: deleting
        again (or after a delete a crash cut short) finishes the job and succeeds."""
        validate_catalog_name(catalog)
        async with self._lock(catalog):
            await self._index.drop_catalog(catalog)
            # Told twice: before the store deletes, so no new event is accepted for it (the known
            # ids are forgotten, the index has no catalog); after, so what a model catch-up read
            # from the store in between is dropped too.
            await self._changed(catalog, "dropped")
            await self._store.delete_catalog(catalog)
        await self._changed(catalog, "dropped")

    # -- products -------------------------------------------------------------------------

    async def upsert(self, catalog: str, rows: Sequence[RawRow], *, dry_run: bool = False) -> UpsertReport:
        """Raises CatalogNotFound for an unknown catalog. A dry run reads and plans, writes nothing."""
        validate_catalog_name(catalog)
        timer = _Timer()
        t0 = time.perf_counter()
        read = await anyio.to_thread.run_sync(read_rows, rows, limiter=self._limiter)
        stored = await self._index.fingerprints(catalog, product_ids(read))
        plan = await anyio.to_thread.run_sync(self._plan, read, stored, limiter=self._limiter)
        timer.add("plan", t0)
        if dry_run or not plan.writes:
            if not dry_run:
                await self._index.flush(catalog)  # what it found unchanged may be another's write
            return UpsertReport(plan.outcomes, 0, dry_run, timer.done())
        t1 = time.perf_counter()
        records, embedded = await self._records(catalog, plan.writes)
        timer.add("embed", t1)
        t2 = time.perf_counter()
        async with self._lock(catalog):
            await self._index.upsert(catalog, records)
        await self._index.flush(catalog)
        timer.add("write", t2)
        await self._changed(catalog, "products", [r.product.id for r in records])
        return UpsertReport(plan.outcomes, embedded, False, timer.done())

    def _plan(self, rows: Sequence[Row], stored: dict[str, str]) -> RowsPlan:
        return plan_rows(rows, stored, self._model_id)

    async def patch(self, catalog: str, product_id: str, changes: ProductChanges) -> PatchReport:
        """Raises CatalogNotFound, ProductNotFound, or InvalidRequest naming the field."""
        validate_catalog_name(catalog)
        async with self._lock(catalog):
            found = await self._index.retrieve(catalog, [product_id])
            if not found:
                raise ProductNotFound(catalog, [product_id])
            old = found[0]
            product = apply_changes(old.product, changes)
            text = product_text(product)
            digest = content_hash(product, text, self._model_id)
            embedded = False
            if digest != old.content_hash:
                vector = old.vector
                if not stored_vector_fits(old, text, self._model_id):
                    vector, embedded = (await self._embed([text]))[0], True
                record = IndexRecord(product, vector, digest, document_vector(product, text))
                await self._index.upsert(catalog, [record])
        await self._index.flush(catalog)
        if digest == old.content_hash:
            return PatchReport(old.product, "unchanged", False)
        await self._changed(catalog, "products", [product_id])
        return PatchReport(product, "updated", embedded)

    async def delete_products(self, catalog: str, ids: Sequence[str]) -> DeleteReport:
        """Raises CatalogNotFound for an unknown catalog; unknown ids are reported, not errors."""
        validate_catalog_name(catalog)
        wanted = list(dict.fromkeys(ids))
        async with self._lock(catalog):
            present = await self._index.fingerprints(catalog, wanted)
            if present:
                await self._index.delete(catalog, list(present))
        await self._index.flush(catalog)
        if present:
            await self._changed(catalog, "products", list(present))
        return DeleteReport(
            tuple(i for i in wanted if i in present), tuple(i for i in wanted if i not in present)
        )

    async def sync(
        self,
        catalog: str,
        keep: Sequence[str],
        *,
        failed_rows: int = 0,
        max_delete_fraction: float | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> SyncReport:
        """The server's half of a full sync (`aisle ingest --server --full-sync`): delete the stored
        products that `keep` (every id of the input, failed rows' included) does not name, under
        the local full sync's guards: nothing when any row failed (`failed_rows`); refused
        (SyncRefused, nothing deleted) past `max_delete_fraction` of the catalog unless `force`.
        A dry run reports what would be deleted, or why it would be refused, and deletes nothing."""
        validate_catalog_name(catalog)
        fraction = self.max_delete_fraction if max_delete_fraction is None else max_delete_fraction
        async with self._lock(catalog):
            stored = await self._index.fingerprints(catalog)
            kept = set(keep)
            deletes, skipped = full_sync_deletes(stored, kept, failed_rows)
            refusal = SyncPlan(deletes=deletes, stored=len(stored)).check_deletes(fraction, force=force)
            named = sum(1 for i in stored if i in kept)
            if dry_run:
                return SyncReport(
                    len(stored), named, tuple(deletes), True, refusal or skipped, refused=refusal is not None
                )
            if refusal is not None:
                raise SyncRefused(refusal)
            if deletes:
                await self._index.delete(catalog, deletes)
        await self._index.flush(catalog)
        if deletes:
            await self._changed(catalog, "products", deletes)
        return SyncReport(len(stored), named, tuple(deletes), False, skipped)
