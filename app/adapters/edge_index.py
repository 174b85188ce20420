"""`EdgeVectorIndex`: the embedded default, the real Qdrant engine in-process (qdrant-edge-py).

One `EdgeShard` per catalog under `<data_dir>/edge/<catalog>/`, persisted and reopened on start.
A shard is locked by one process, so several server workers need `QdrantServerIndex` instead, and
another process opening a held shard gets `IndexLocked`. The engine is synchronous and holds the
GIL for a whole call (docs/performance.md): a query of an open shard runs on the caller's thread (a
worker thread bought no parallelism, only the hop's cost); opening a shard and every other call run
in a worker thread. Writes to one shard are serialised by a lock. A query reads ids and scores
only; products come from a cache of decoded payloads (edge_products.py), which every write through
this adapter invalidates.

Durability (measured on qdrant-edge-py 0.9, docs/catalogs.md): `update` appends to the shard's
write-ahead log, which `load` replays, so an applied write survives a kill -9 of this process;
`flush` fsyncs the log and the segments, so it also survives the machine. `flush` here is a group
commit: a caller whose write an earlier or concurrent flush already covered does not flush again.
The engine holds the GIL while it works (a flush pauses every thread of the process for about
0.1-0.4 s on a shared 2-core machine), so writers flush once per acknowledged request, not per
batch.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import qdrant_edge as qe
import structlog

from app.adapters.edge_products import ProductCache
from app.adapters.payload import (
    FACET_KEYS,
    FLOAT_FIELDS,
    HASH_FIELD,
    KEYWORD_FIELDS,
    SPARSE_NAME,
    dense_vector,
    filter_key,
    from_payload,
    point_id,
    stock_key,
    to_payload,
)
from app.domain.errors import (
    AisleError,
    CatalogNotFound,
    IndexIncompatible,
    IndexLocked,
    IndexUnavailable,
)
from app.domain.models import (
    CATALOG_NAME_PATTERN,
    CatalogInfo,
    FacetField,
    Filters,
    IndexRecord,
    ScoredProduct,
    VectorQuery,
)

T = TypeVar("T")
log = structlog.get_logger("aisle.index")
_META_FILE = "aisle-catalog.json"
_SCROLL_PAGE = 1000
_DROPPED = ".dropped-"  # a dropped shard's directory, renamed away (atomically) before it is removed
_CATALOG_NAME = re.compile(CATALOG_NAME_PATTERN)


@dataclass(slots=True)
class _Open:
    """An open shard and what serialises its writes. `written` counts applied writes, `flushed`
    the count the last flush covered (both read and written under `lock`)."""

    shard: qe.EdgeShard
    lock: threading.Lock = field(default_factory=threading.Lock)
    flush_lock: threading.Lock = field(default_factory=threading.Lock)
    written: int = 0
    flushed: int = 0


def edge_filter(filters: Filters) -> qe.Filter | None:
    must: list[Any] = []
    if filters.category:
        must.append(
            qe.FieldCondition("category_key", match=qe.MatchAny([filter_key(c) for c in filters.category]))
        )
    if filters.brand:
        must.append(qe.FieldCondition("brand_key", match=qe.MatchAny([filter_key(b) for b in filters.brand])))
    if filters.price_min is not None or filters.price_max is not None:
        must.append(
            qe.FieldCondition("price", range=qe.RangeFloat(gte=filters.price_min, lte=filters.price_max))
        )
    if filters.in_stock is not None:
        must.append(qe.FieldCondition("stock_key", match=qe.MatchValue(stock_key(filters.in_stock))))
    must_not: list[Any] = []
    if filters.exclude_ids:
        must_not.append(qe.HasIdCondition({point_id(i) for i in filters.exclude_ids}))
    for key, values in (("brand_key", filters.exclude_brand), ("category_key", filters.exclude_category)):
        if values:
            must_not.append(qe.FieldCondition(key, match=qe.MatchAny([filter_key(v) for v in values])))
    if not must and not must_not:
        return None
    return qe.Filter(must=must or None, must_not=must_not or None)


def edge_request(query: VectorQuery, *, with_payload: bool = True) -> qe.QueryRequest:
    flt = edge_filter(query.filters)
    sparse = query.sparse
    if sparse is None or (not sparse.indices and query.positives):
        return qe.QueryRequest(
            limit=query.limit, query=edge_query(query), filter=flt, with_payload=with_payload
        )
    lexical = qe.Query.Nearest(qe.SparseVector(list(sparse.indices), list(sparse.values)), using=SPARSE_NAME)
    if not query.positives:
        return qe.QueryRequest(limit=query.limit, query=lexical, filter=flt, with_payload=with_payload)
    depth = max(query.fusion.depth, query.limit)
    return qe.QueryRequest(
        limit=query.limit,
        prefetches=[
            qe.Prefetch(limit=depth, query=edge_query(query), filter=flt),
            qe.Prefetch(limit=depth, query=lexical, filter=flt),
        ],
        # The stub types `query` as Fusion; Fusion.Rrf is its (weighted) variant.
        query=qe.Fusion.Rrf(
            k=query.fusion.k, weights=[query.fusion.dense_weight, query.fusion.sparse_weight]
        ),  # type: ignore[arg-type]
        with_payload=with_payload,
    )


def edge_point(record: IndexRecord) -> qe.Point:
    vector: Any = list(record.vector)
    if record.sparse is not None:
        sparse = qe.SparseVector(list(record.sparse.indices), list(record.sparse.values))
        vector = {"": vector, SPARSE_NAME: sparse}
    return qe.Point(point_id(record.product.id), vector, to_payload(record.product, record.content_hash))


def edge_query(query: VectorQuery) -> qe.Query:
    positives: list[Any] = [list(v) for v in query.positives]
    negatives: list[Any] = [list(v) for v in query.negatives]
    if len(positives) == 1 and not negatives:
        return qe.Query.Nearest(positives[0])
    return qe.Query.RecommendBestScore(qe.RecommendQuery(positives, negatives))


class EdgeVectorIndex:
    def __init__(self, data_dir: Path, *, search_threads: int | None = 1) -> None:
        self._root = data_dir / "edge"
        self._search_threads = search_threads
        self._open: dict[str, _Open] = {}
        self._open_lock = threading.Lock()
        self._products = ProductCache()  # decoded payloads: a query reads ids and scores only

    # -- plumbing -------------------------------------------------------------------------

    def _config(self, dimension: int) -> qe.EdgeConfig:
        vectors = qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine)
        sparse = {SPARSE_NAME: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}
        return qe.EdgeConfig(vectors=vectors, sparse_vectors=sparse, max_search_threads=self._search_threads)

    def _path(self, catalog: str) -> Path:
        return self._root / catalog

    def _opened(self, catalog: str) -> _Open:
        opened = self._open.get(catalog)
        if opened is not None:
            return opened
        with self._open_lock:
            if catalog not in self._open:
                path = self._path(catalog)
                meta = path / _META_FILE
                if not meta.is_file():
                    raise CatalogNotFound(catalog)
                dimension = int(json.loads(meta.read_text())["dimension"])
                try:
                    shard = qe.EdgeShard.load(str(path), self._config(dimension))
                except Exception as e:
                    if "WouldBlock" in str(e):  # the WAL's file lock: another process has it open
                        raise IndexLocked(catalog) from e
                    raise
                self._open[catalog] = _Open(shard)
            return self._open[catalog]

    def _shard(self, catalog: str) -> qe.EdgeShard:
        return self._opened(catalog).shard

    async def _run(self, fn: Callable[[], T], catalog: str | None = None) -> T:
        try:
            return await anyio.to_thread.run_sync(fn)
        except AisleError:
            raise
        except Exception as e:  # the engine raises plain exceptions; translate them at the edge
            if catalog is not None and not (self._path(catalog) / _META_FILE).is_file():
                raise CatalogNotFound(catalog) from e  # dropped while this call ran
            raise IndexUnavailable(f"qdrant edge: {e}") from e

    async def _read(self, catalog: str, fn: Callable[[], T]) -> T:
        """A short read of an open shard runs on the caller's thread. qdrant-edge-py holds the GIL
        for the whole engine call (no `py.detach` in its bindings, docs/performance.md), so a worker
        thread ran it no more in parallel with anything and the event loop stalled all the same;
        the hop itself was the largest cost left in a served search. Opening a shard (disk, can
        take seconds) still goes to a worker thread."""
        if catalog not in self._open:
            return await self._run(fn, catalog)
        try:
            return fn()
        except AisleError:
            raise
        except Exception as e:  # the engine raises plain exceptions; translate them at the edge
            if not (self._path(catalog) / _META_FILE).is_file():
                raise CatalogNotFound(catalog) from e  # dropped while this call ran
            raise IndexUnavailable(f"qdrant edge: {e}") from e

    def _write(self, catalog: str, operation: qe.UpdateOperation, ids: Sequence[str]) -> None:
        opened = self._opened(catalog)
        with opened.lock:
            try:
                opened.shard.update(operation)
            finally:  # even a failed write may have applied part of the batch
                self._products.forget(catalog, [uuid.UUID(point_id(i)) for i in ids])
            opened.written += 1

    def _flush(self, catalog: str) -> None:
        """Group commit: one flush covers every write applied before it started, so a caller
        whose write an earlier flush covered returns without flushing."""
        opened = self._opened(catalog)
        with opened.lock:
            target = opened.written
        with opened.flush_lock:
            if opened.flushed >= target:
                return
            with opened.lock:  # no write in between: `upto` is exactly what this flush covers
                upto = opened.written
                opened.shard.flush()
                opened.flushed = upto

    # -- reads ----------------------------------------------------------------------------

    async def query(self, catalog: str, query: VectorQuery) -> list[ScoredProduct]:
        if query.sparse is not None and not query.sparse.indices and not query.positives:
            return []  # a lexical query with no usable term matches nothing
        request = edge_request(query, with_payload=False)

        def run() -> list[ScoredProduct]:
            shard = self._shard(catalog)
            points = shard.query(request)

            def fetch(ids: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
                return [
                    (r.id, r.payload or {}) for r in shard.retrieve(ids, with_payload=True, with_vector=False)
                ]

            entries = self._products.lookup(catalog, [p.id for p in points], fetch)
            return [
                ScoredProduct(entry[0], float(p.score), entry[1])
                for p, entry in zip(points, entries, strict=True)
                if entry is not None  # deleted between the query and the fetch
            ]

        return await self._read(catalog, run)

    async def retrieve(self, catalog: str, ids: Sequence[str]) -> list[IndexRecord]:
        def run() -> list[IndexRecord]:
            records = self._shard(catalog).retrieve(
                [point_id(i) for i in ids], with_payload=True, with_vector=True
            )
            out = []
            for r in records:
                payload = r.payload or {}
                out.append(
                    IndexRecord(
                        from_payload(payload), dense_vector(r.vector), str(payload.get(HASH_FIELD, ""))
                    )
                )
            return out

        return await self._run(run, catalog)

    async def catalogs(self) -> list[CatalogInfo]:
        """The catalogs this process can serve. One whose shard cannot be opened (another process
        holds its lock: an ingest running now) is left out and logged, not an error: one catalog's
        lock must not make the whole instance unready (/readyz and /v1/catalogs call this). The
        data directory itself being unreadable is still IndexUnavailable."""

        def run() -> list[CatalogInfo]:
            if not self._root.is_dir():
                return []
            names = sorted(
                p.name
                for p in self._root.iterdir()
                if _CATALOG_NAME.fullmatch(p.name) and (p / _META_FILE).is_file()
            )
            out = []
            for name in names:
                try:
                    count = self._shard(name).count(qe.CountRequest(exact=True))
                except CatalogNotFound:
                    continue  # dropped since the directory was listed
                except IndexLocked as e:  # another process holds it: an ingest running now
                    log.warning("catalog_unavailable", catalog=name, detail=str(e))
                    continue
                except AisleError:
                    raise
                except Exception as e:  # the engine's own error: mid-creation, or closed by a drop
                    log.warning("catalog_unavailable", catalog=name, detail=str(e))
                    continue
                out.append(CatalogInfo(name, count))
            return out

        return await self._run(run)

    async def facet(self, catalog: str, field: FacetField, limit: int = 1000) -> dict[str, int]:
        request = qe.FacetRequest(key=FACET_KEYS[field], limit=limit, exact=True)

        def run() -> dict[str, int]:
            hits = self._shard(catalog).facet(request).hits
            return {str(h.value): int(h.count) for h in hits if str(h.value)}

        return await self._run(run, catalog)

    async def fingerprints(self, catalog: str, ids: Sequence[str] | None = None) -> dict[str, str]:
        selector = qe.PayloadSelector.Include(["product_id", HASH_FIELD])

        def hashes(records: Sequence[Any]) -> dict[str, str]:
            out = {}
            for r in records:
                payload = r.payload or {}
                out[str(payload["product_id"])] = str(payload.get(HASH_FIELD, ""))
            return out

        def some(wanted: Sequence[str]) -> dict[str, str]:
            points: list[Any] = [point_id(i) for i in dict.fromkeys(wanted)]
            return hashes(self._shard(catalog).retrieve(points, with_payload=selector, with_vector=False))

        def every() -> dict[str, str]:
            shard = self._shard(catalog)
            out: dict[str, str] = {}
            offset: Any = None
            while True:
                records, offset = shard.scroll(
                    qe.ScrollRequest(
                        offset=offset, limit=_SCROLL_PAGE, with_payload=selector, with_vector=False
                    )
                )
                out.update(hashes(records))
                if offset is None:
                    return out

        return await self._run(every if ids is None else lambda: some(ids), catalog)

    # -- writes ---------------------------------------------------------------------------

    async def ensure_catalog(self, catalog: str, dimension: int) -> bool:
        def run() -> bool:
            path = self._path(catalog)
            meta = path / _META_FILE
            with self._open_lock:
                if meta.is_file():
                    stored = int(json.loads(meta.read_text())["dimension"])
                    if stored != dimension:
                        raise IndexIncompatible(
                            f"catalog {catalog!r} holds {stored}-d vectors, the embedder makes "
                            f"{dimension}-d: delete it and re-ingest"
                        )
                    return False
                if path.exists():  # a half-created shard from a crash: start it again
                    shutil.rmtree(path)
                shard = qe.EdgeShard.create(str(path), self._config(dimension))
                for name in KEYWORD_FIELDS:
                    shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword))
                for name in FLOAT_FIELDS:
                    shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Float))
                shard.flush()
                meta.write_text(json.dumps({"dimension": dimension, "distance": "cosine"}))
                self._open[catalog] = _Open(shard)
                self._products.forget(catalog)
                return True

        return await self._run(run)

    async def drop_catalog(self, catalog: str) -> bool:
        """Renames the shard's directory away first (atomic: from then on the catalog does not
        exist for `_opened`), closes the shard once its in-flight write is done (a read racing it
        fails and is reported as CatalogNotFound), then removes the files, with any left by a
        drop a crash interrupted."""

        def run() -> bool:
            with self._open_lock:
                opened = self._open.pop(catalog, None)
                path = self._path(catalog)
                existed = (path / _META_FILE).is_file()
                if path.exists():
                    path.rename(self._root / f"{_DROPPED}{catalog}-{uuid.uuid4().hex}")
            self._products.forget(catalog)
            if opened is not None:
                with opened.lock:
                    opened.shard.close()
            for leftover in self._root.glob(f"{_DROPPED}*"):
                shutil.rmtree(leftover, ignore_errors=True)
            return existed

        return await self._run(run)

    async def upsert(self, catalog: str, records: Sequence[IndexRecord]) -> None:
        points = [edge_point(r) for r in records]
        ids = [r.product.id for r in records]
        await self._run(lambda: self._write(catalog, qe.UpdateOperation.upsert_points(points), ids), catalog)

    async def delete(self, catalog: str, ids: Sequence[str]) -> None:
        op = qe.UpdateOperation.delete_points([point_id(i) for i in ids])
        await self._run(lambda: self._write(catalog, op, ids), catalog)

    async def flush(self, catalog: str) -> None:
        await self._run(lambda: self._flush(catalog), catalog)

    async def optimize(self, catalog: str) -> None:
        def run() -> None:
            opened = self._opened(catalog)
            with opened.lock:
                opened.shard.optimize()
                opened.shard.flush()
                opened.flushed = opened.written

        await self._run(run, catalog)

    async def close(self) -> None:
        def run() -> None:
            with self._open_lock:
                for name, opened in self._open.items():
                    with opened.lock:
                        opened.shard.flush()
                        opened.shard.close()
                    self._products.forget(name)
                self._open.clear()

        await self._run(run)
