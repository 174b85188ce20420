"""Request and response bodies of the catalog write routes (app/api/catalog_writes.py): msgspec
Structs, validated on decode, described in OpenAPI by msgspec's own JSON Schema (app/api/openapi.py),
and what a typed client builds on."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from app.api.dto import ProductId, ProductOut
from app.catalogs.patch import UNSET as KEEP
from app.catalogs.patch import ProductChanges
from app.catalogs.plan import RowOutcome
from app.catalogs.service import DeleteReport, PatchReport, SyncReport, UpsertReport
from app.domain.models import AttributeValue
from embeddings.readers import MAX_ATTRIBUTES, AttributeKey, CanonicalRow, Name

MAX_ROWS = 1000  # products per upsert request, ids per delete request (bytes: AISLE_MAX_WRITE_BODY_BYTES)
MAX_SYNC_IDS = 5_000_000  # a full sync's id list is bounded by the write body limit first

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
Text = Annotated[str, msgspec.Meta(max_length=20_000)]
Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
Price = Annotated[float, msgspec.Meta(ge=0)]


class ProductIn(CanonicalRow):
    """A product row of a bulk upsert, in the canonical format (docs/catalog-format.md); raw
    Icecat rows are read too. Each row is validated on its own: a bad row is an `error` result
    naming its line, never a failed request."""


class CatalogCreatedOut(msgspec.Struct):
    name: str
    product_count: int
    created_at: datetime


class RowOut(msgspec.Struct, omit_defaults=True):
    line: Annotated[int, msgspec.Meta(description="the row's NDJSON line, or its index + 1 in an array")]
    id: str | None
    result: Literal["created", "updated", "unchanged", "error"]
    message: str | None = None

    @classmethod
    def of(cls, outcome: RowOutcome) -> RowOut:
        return cls(outcome.line, outcome.id, outcome.result, outcome.message)


class UpsertOut(msgspec.Struct):
    results: list[RowOut]
    created: int
    updated: int
    unchanged: int
    errors: int
    embedded: Annotated[int, msgspec.Meta(description="products embedded; other writes kept their vector")]
    dry_run: bool
    timings_ms: dict[str, float]

    @classmethod
    def of(cls, report: UpsertReport) -> UpsertOut:
        return cls(
            results=[RowOut.of(o) for o in report.outcomes],
            created=report.count("created"),
            updated=report.count("updated"),
            unchanged=report.count("unchanged"),
            errors=report.count("error"),
            embedded=report.embedded,
            dry_run=report.dry_run,
            timings_ms=report.timings_ms,
        )


class ProductPatchIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The fields to change; the rest stay as stored. `price: null` clears the price; an
    attribute set to null is removed."""

    title: Title | UnsetType = UNSET
    brand: Name | UnsetType = UNSET
    description: Text | UnsetType = UNSET
    category: Name | UnsetType = UNSET
    price: Price | UnsetType | None = UNSET
    currency: Currency | UnsetType = UNSET
    in_stock: bool | UnsetType = UNSET
    attributes: (
        Annotated[dict[AttributeKey, AttributeValue | None], msgspec.Meta(max_length=MAX_ATTRIBUTES)]
        | UnsetType
    ) = UNSET

    def to_changes(self) -> ProductChanges:
        return ProductChanges(
            title=_kept(self.title),
            brand=_kept(self.brand),
            description=_kept(self.description),
            category=_kept(self.category),
            price=_kept(self.price),
            currency=_kept(self.currency),
            in_stock=_kept(self.in_stock),
            attributes=_kept(self.attributes),
        )


def _kept(value: object) -> Any:
    """msgspec's UNSET (not in the request) -> the use case's "keep as stored"."""
    return KEEP if isinstance(value, UnsetType) else value


class PatchOut(msgspec.Struct):
    id: str
    result: Literal["updated", "unchanged"]
    embedded: bool
    product: ProductOut

    @classmethod
    def of(cls, report: PatchReport) -> PatchOut:
        return cls(report.product.id, report.result, report.embedded, ProductOut.of(report.product))


class DeleteIn(msgspec.Struct, forbid_unknown_fields=True):
    ids: Annotated[list[ProductId], msgspec.Meta(min_length=1, max_length=MAX_ROWS)]


class DeleteOut(msgspec.Struct):
    deleted: list[str]
    not_found: list[str]

    @classmethod
    def of(cls, report: DeleteReport) -> DeleteOut:
        return cls(list(report.deleted), list(report.not_found))


class SyncIn(msgspec.Struct, forbid_unknown_fields=True):
    """The end of a full sync: `ids` names every product of the input (the rows that failed too),
    the stored products it does not name are deleted, under the local full sync's guards."""

    ids: Annotated[list[ProductId], msgspec.Meta(max_length=MAX_SYNC_IDS)]
    failed_rows: Annotated[int, msgspec.Meta(ge=0, description="rows of the input that failed")] = 0
    max_delete_fraction: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    force: bool = False
    dry_run: bool = False


class SyncOut(msgspec.Struct):
    stored: int
    kept: int
    deleted: Annotated[list[str], msgspec.Meta(description="deleted, or with dry_run what would be")]
    dry_run: bool
    deletion_skipped: str | None
    refused: Annotated[bool, msgspec.Meta(description="dry run: a real sync would be refused (409)")]

    @classmethod
    def of(cls, report: SyncReport) -> SyncOut:
        return cls(
            report.stored,
            report.kept,
            list(report.deleted),
            report.dry_run,
            report.deletion_skipped,
            report.refused,
        )
