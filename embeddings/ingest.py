"""The ingest job: read -> text -> content hash -> embed changed products in batches -> upsert.

Incremental by content hash: the index's stored hashes are read first and only new or changed
products are embedded, so re-running on an unchanged catalog costs one scroll and no model time.
A full sync (`full_sync=True`) also deletes stored products missing from the input.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import anyio.to_thread
from opentelemetry import trace

from app.domain.lexical import document_vector
from app.domain.models import IndexRecord, Product, validate_catalog_name
from app.ports import Embedder, VectorIndex
from embeddings.readers import ReadResult, RowError
from embeddings.text import content_hash, product_text

Progress = Callable[[int], None]


@dataclass(slots=True)
class IngestSummary:
    catalog: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    embedded: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    errors: list[RowError] = field(default_factory=list)

    @property
    def seen(self) -> int:
        return self.added + self.updated + self.unchanged

    @property
    def products_per_second(self) -> float:
        return self.seen / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (
            f"catalog={self.catalog} added={self.added} updated={self.updated} unchanged={self.unchanged} "
            f"deleted={self.deleted} failed={self.failed} in {self.seconds:.1f}s "
            f"({self.products_per_second:.0f} products/s; embedded {self.embedded} in {self.embed_seconds:.1f}s)"
        )


@dataclass(frozen=True, slots=True)
class _Pending:
    product: Product
    text: str
    content_hash: str
    is_new: bool


async def ingest(
    items: Iterable[ReadResult],
    catalog: str,
    embedder: Embedder,
    index: VectorIndex,
    *,
    model_id: str,
    full_sync: bool = False,
    batch_size: int = 256,
    optimize: bool = True,
    progress: Progress | None = None,
    tracer: trace.Tracer | None = None,
) -> IngestSummary:
    validate_catalog_name(catalog)
    started = time.perf_counter()
    summary = IngestSummary(catalog)
    await index.ensure_catalog(catalog, embedder.dimension)
    stored = await index.fingerprints(catalog)
    seen: set[str] = set()

    spans = tracer or trace.NoOpTracer()

    async def embed_and_upsert(batch: Sequence[_Pending]) -> None:
        with spans.start_as_current_span("ingest.batch") as span:
            span.set_attribute("aisle.catalog", catalog)
            span.set_attribute("aisle.batch_size", len(batch))
            await _embed_and_upsert(batch)

    async def _embed_and_upsert(batch: Sequence[_Pending]) -> None:
        t0 = time.perf_counter()
        vectors = await anyio.to_thread.run_sync(embedder.embed, [p.text for p in batch])
        summary.embed_seconds += time.perf_counter() - t0
        await index.upsert(
            catalog,
            [
                IndexRecord(p.product, v, p.content_hash, document_vector(p.product, p.text))
                for p, v in zip(batch, vectors, strict=True)
            ],
        )
        summary.embedded += len(batch)
        for p in batch:
            if p.is_new:
                summary.added += 1
            else:
                summary.updated += 1

    def tick(n: int) -> None:
        if progress is not None:
            progress(n)

    pending: list[_Pending] = []
    for item in items:
        if isinstance(item, RowError):
            summary.failed += 1
            summary.errors.append(item)
            if item.product_id:
                seen.add(item.product_id)  # a broken row must not delete its stored product on a full sync
            tick(1)
            continue
        if item.id in seen:
            summary.failed += 1
            summary.errors.append(
                RowError("-", item.id, "duplicate id in input; the first occurrence was kept")
            )
            tick(1)
            continue
        seen.add(item.id)
        text = product_text(item)
        digest = content_hash(item, text, model_id)
        if stored.get(item.id) == digest:
            summary.unchanged += 1
            tick(1)
            continue
        pending.append(_Pending(item, text, digest, item.id not in stored))

    # Embedding batches of similar length pad less (docs/embeddings.md has the measured gain).
    pending.sort(key=lambda p: len(p.text))
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        await embed_and_upsert(batch)
        tick(len(batch))

    if full_sync:
        missing = sorted(set(stored) - seen)
        if missing:
            await index.delete(catalog, missing)
            summary.deleted = len(missing)
    if optimize and (summary.embedded or summary.deleted):
        await index.optimize(catalog)
    summary.seconds = time.perf_counter() - started
    return summary
