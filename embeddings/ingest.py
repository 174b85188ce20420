"""The ingest job: read -> text -> content hash -> embed changed products in batches -> upsert.

Incremental by content hash: the index's stored hashes are read first and only new or changed
products are embedded, so re-running on an unchanged catalog costs one scroll and no model time.
A full sync (`full_sync=True`) also deletes stored products missing from the input, guarded:

- never when any row failed (a truncated file must not delete what its lost rows held);
- never more than `max_delete_fraction` of the stored catalog unless `force` (an empty or wrong
  file must not empty a catalog): `SyncRefused` is raised before anything is written.

`plan_sync` is the pure core (rows + stored hashes -> what to write, keep and delete); `ingest`
applies a plan to any `VectorIndex`, over any iterable of rows, so a write API can reuse it.
`dry_run=True` plans and reports without writing. A catalog is created only once at least one
valid product is ready to be written: a run whose every row failed leaves nothing behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import anyio.to_thread
from opentelemetry import trace

from app.domain.errors import CatalogNotFound
from app.domain.lexical import document_vector
from app.domain.models import IndexRecord, Product, validate_catalog_name
from app.ports import Embedder, VectorIndex
from embeddings.readers import ReadResult, RowError
from embeddings.text import content_hash, product_text

Progress = Callable[[int], None]
DEFAULT_MAX_DELETE_FRACTION = 0.2


class SyncRefused(Exception):
    """A full sync would delete more of the catalog than allowed; nothing was written."""


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
    dry_run: bool = False
    deletion_skipped: str | None = None  # why a full sync deleted nothing it would have
    planned_ids: dict[str, list[str]] = field(default_factory=dict)  # dry run: add/update/delete

    @property
    def seen(self) -> int:
        return self.added + self.updated + self.unchanged

    @property
    def products_per_second(self) -> float:
        return self.seen / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        if self.dry_run:
            return (
                f"dry run: catalog={self.catalog} would add={self.added} update={self.updated} "
                f"unchanged={self.unchanged} delete={self.deleted} failed={self.failed}"
                + (f" ({self.deletion_skipped})" if self.deletion_skipped else "")
            )
        return (
            f"catalog={self.catalog} added={self.added} updated={self.updated} unchanged={self.unchanged} "
            f"deleted={self.deleted} failed={self.failed} in {self.seconds:.1f}s "
            f"({self.products_per_second:.0f} products/s; embedded {self.embedded} in {self.embed_seconds:.1f}s)"
            + (f"; {self.deletion_skipped}" if self.deletion_skipped else "")
        )


@dataclass(frozen=True, slots=True)
class _Pending:
    product: Product
    text: str
    content_hash: str
    is_new: bool


@dataclass(slots=True)
class SyncPlan:
    """What a run would do to a catalog holding `stored` products."""

    writes: list[_Pending] = field(default_factory=list)  # new or changed, in input order
    unchanged: int = 0
    deletes: list[str] = field(default_factory=list)  # full sync: stored ids missing from the input
    errors: list[RowError] = field(default_factory=list)
    stored: int = 0
    deletion_skipped: str | None = None

    def check_deletes(self, max_fraction: float, *, force: bool) -> str | None:
        """Why deleting `deletes` is refused, or None."""
        if force or not self.deletes or len(self.deletes) <= max_fraction * self.stored:
            return None
        return (
            f"full sync would delete {len(self.deletes)} of {self.stored} stored products "
            f"({len(self.deletes) / self.stored:.0%}, over the {max_fraction:.0%} allowed); "
            "check the input, or pass --force (or raise --max-delete-fraction)"
        )


def plan_sync(
    items: Iterable[ReadResult], stored: dict[str, str], model_id: str, *, full_sync: bool
) -> SyncPlan:
    """Pure: rows and the catalog's stored hashes -> what to write, keep and delete."""
    plan = SyncPlan(stored=len(stored))
    seen: set[str] = set()
    for item in items:
        if isinstance(item, RowError):
            plan.errors.append(item)
            if item.product_id:
                seen.add(item.product_id)
            continue
        if item.id in seen:
            plan.errors.append(RowError("-", item.id, "duplicate id in input; the first occurrence was kept"))
            continue
        seen.add(item.id)
        text = product_text(item)
        digest = content_hash(item, text, model_id)
        if stored.get(item.id) == digest:
            plan.unchanged += 1
            continue
        plan.writes.append(_Pending(item, text, digest, item.id not in stored))
    if full_sync:
        missing = sorted(set(stored) - seen)
        if missing and plan.errors:
            # A failed row may be a product the file meant to keep: delete nothing on such a run.
            plan.deletion_skipped = (
                f"full sync deleted nothing: {len(plan.errors)} row(s) failed "
                f"({len(missing)} stored product(s) missing from the input kept)"
            )
        else:
            plan.deletes = missing
    return plan


async def _stored_hashes(index: VectorIndex, catalog: str) -> tuple[dict[str, str], bool]:
    """(stored id -> hash, whether the catalog exists)."""
    try:
        return await index.fingerprints(catalog), True
    except CatalogNotFound:
        return {}, False


async def ingest(  # noqa: PLR0913 - keyword-only options, one per CLI flag
    items: Iterable[ReadResult],
    catalog: str,
    embedder: Embedder,
    index: VectorIndex,
    *,
    model_id: str,
    full_sync: bool = False,
    max_delete_fraction: float = DEFAULT_MAX_DELETE_FRACTION,
    force: bool = False,
    dry_run: bool = False,
    batch_size: int = 256,
    optimize: bool = True,
    progress: Progress | None = None,
    tracer: trace.Tracer | None = None,
) -> IngestSummary:
    """Raises SyncRefused (before any write) when a full sync would delete too much."""
    validate_catalog_name(catalog)
    started = time.perf_counter()
    summary = IngestSummary(catalog, dry_run=dry_run)
    stored, exists = await _stored_hashes(index, catalog)
    plan = plan_sync(items, stored, model_id, full_sync=full_sync)
    summary.errors = plan.errors
    summary.failed = len(plan.errors)
    summary.unchanged = plan.unchanged
    summary.deletion_skipped = plan.deletion_skipped
    refusal = plan.check_deletes(max_delete_fraction, force=force)
    if dry_run:
        summary.added = sum(1 for p in plan.writes if p.is_new)
        summary.updated = len(plan.writes) - summary.added
        summary.deleted = len(plan.deletes)
        summary.deletion_skipped = refusal or plan.deletion_skipped
        summary.planned_ids = {
            "add": [p.product.id for p in plan.writes if p.is_new],
            "update": [p.product.id for p in plan.writes if not p.is_new],
            "delete": plan.deletes,
        }
        summary.seconds = time.perf_counter() - started
        return summary
    if refusal is not None:
        raise SyncRefused(refusal)
    if progress is not None:
        progress(plan.unchanged + len(plan.errors))
    if plan.writes and not exists:
        await index.ensure_catalog(catalog, embedder.dimension)  # only now: something valid to write

    spans = tracer or trace.NoOpTracer()

    async def embed_and_upsert(batch: Sequence[_Pending]) -> None:
        with spans.start_as_current_span("ingest.batch") as span:
            span.set_attribute("aisle.catalog", catalog)
            span.set_attribute("aisle.batch_size", len(batch))
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
            summary.added += sum(1 for p in batch if p.is_new)
            summary.updated += sum(1 for p in batch if not p.is_new)

    # Embedding batches of similar length pad less (docs/embeddings.md has the measured gain).
    pending = sorted(plan.writes, key=lambda p: len(p.text))
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        await embed_and_upsert(batch)
        if progress is not None:
            progress(len(batch))

    if plan.deletes:
        await index.delete(catalog, plan.deletes)
        summary.deleted = len(plan.deletes)
    if optimize and (summary.embedded or summary.deleted):
        await index.optimize(catalog)
    summary.seconds = time.perf_counter() - started
    return summary
