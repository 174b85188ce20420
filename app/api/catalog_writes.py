"""The catalog write routes (docs/catalogs.md): create and delete a catalog (`admin`), bulk upsert
products, patch one, delete some, finish a full sync (`write`). Each validates, calls the
`CatalogWrites` use case once, annotates the canonical log line and shapes the response; a 2xx
means the write is durable (the use case flushes before it returns).

A bulk upsert reads its body itself, row by row (a bad row is that row's `error`, never the
request's), so its request body is declared here, by `RowsOperation`, and is loose on the rows'
shape; the row format is `ProductIn` (app/api/catalog_dto.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import msgspec
from litestar import Controller, Request, delete, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from app.api.admission import WRITE
from app.api.auth import requires
from app.api.body import AisleRequest
from app.api.catalog_dto import (
    MAX_ROWS,
    CatalogCreatedOut,
    DeleteIn,
    DeleteOut,
    PatchOut,
    ProductPatchIn,
    SyncIn,
    SyncOut,
    UpsertOut,
)
from app.api.dto import ErrorBody
from app.api.request_log import annotate
from app.api.routes import CatalogName
from app.catalogs.plan import RawRow
from app.catalogs.service import CatalogWrites
from app.domain.errors import InvalidRequest
from app.observability.metrics import Metrics

NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
_ROWS_FIELD = "products"
_ROW_DOC = (
    "a product (ProductIn: the canonical format, or a raw Icecat row); each row is read on its own, "
    "and a bad one is an `error` result naming its line"
)


@dataclass
class RowsOperation(Operation):
    """Declares the bulk upsert's body: a JSON array of rows (or `{"products": [...]}`), or NDJSON."""

    def __post_init__(self) -> None:
        rows = Schema(type=OpenAPIType.ARRAY, max_items=MAX_ROWS, items=Schema(description=_ROW_DOC))
        envelope = Schema(
            type=OpenAPIType.OBJECT,
            properties={_ROWS_FIELD: rows},
            required=[_ROWS_FIELD],
            additional_properties=False,
        )
        self.request_body = RequestBody(
            required=True,
            description=f"At most {MAX_ROWS} products, and AISLE_MAX_WRITE_BODY_BYTES (1 MiB) in all",
            content={
                "application/json": OpenAPIMediaType(schema=Schema(one_of=[rows, envelope])),
                "application/x-ndjson": OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.STRING, description=f"one row per line: {_ROW_DOC}")
                ),
            },
        )


class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    products: list[msgspec.Raw]


def _too_many(count: int) -> InvalidRequest:
    return InvalidRequest(
        _ROWS_FIELD, f"at most {MAX_ROWS} products per request, got {count}: send them in batches"
    )


def split_rows(body: bytes, *, ndjson: bool) -> list[RawRow]:
    """A request body's rows, numbered, each still JSON text. Malformed JSON around the rows is a
    400; a body that is not rows, or too many of them, a 422 naming `products`."""
    if ndjson:
        lines = [(n, line) for n, line in enumerate(body.split(b"\n"), start=1) if line.strip()]
        if len(lines) > MAX_ROWS:
            raise _too_many(len(lines))
        return [RawRow(n, line) for n, line in lines]
    try:
        top = msgspec.json.decode(body, type=list[msgspec.Raw] | _Envelope)
    except msgspec.ValidationError as e:
        raise InvalidRequest(
            _ROWS_FIELD, f'expected a JSON array of products, or {{"products": [...]}} ({e})'
        ) from e
    except msgspec.DecodeError as e:  # malformed: app/api/errors.py makes it a 400
        raise ValidationException(str(e)) from e
    rows = top.products if isinstance(top, _Envelope) else top
    if len(rows) > MAX_ROWS:
        raise _too_many(len(rows))
    return [RawRow(n, bytes(raw)) for n, raw in enumerate(rows, start=1)]


TAGS = ["catalog writes"]
# Plain handlers, not controller methods: litestar cannot merge two controllers' routes on one path
# (each brings its own OPTIONS handler), and GET on this path is CatalogController's. Register them
# after CatalogController (app/main.py).
PRODUCT_PATH = "/v1/catalogs/{catalog:str}/products/{product_id:str}"


# Every route here takes its admission slot from the write pool (app/api/admission.py): a write
# waits for the write-embedding thread, holding its slot, and must not hold one searches need.
_ADMIT = {"admission": WRITE}
_BULK = {"body": "write", "admission": WRITE}  # and the write route class's body limit (app/api/body.py)


def _conflict(description: str) -> dict[int, ResponseSpec]:
    return {409: ResponseSpec(ErrorBody, description=description, generate_examples=False)}


def _record(state: State, counts: dict[str, int], embedded: int = 0) -> None:
    metrics: Metrics = state.metrics
    metrics.observe_catalog_rows(counts, embedded)
    annotate(**{f"rows_{k}": v for k, v in counts.items() if v}, embedded=embedded)


class CatalogWriteController(Controller):
    path = "/v1/catalogs"
    tags = TAGS

    @requires("admin")
    @post(
        "/{catalog:str}",
        status_code=HTTP_201_CREATED,
        summary="Create an empty catalog",
        opt=_ADMIT,
        responses=_conflict("the catalog exists (`already_exists`), or with another vector size"),
    )
    async def create_catalog(
        self, catalog: CatalogName, catalog_writes: NamedDependency[CatalogWrites]
    ) -> CatalogCreatedOut:
        annotate(catalog=catalog)
        created = await catalog_writes.create(catalog)
        return CatalogCreatedOut(created.name, 0, created.created_at)

    @requires("admin")
    @delete(
        "/{catalog:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a catalog: its products, settings and complement maps (idempotent)",
        opt=_ADMIT,
    )
    async def delete_catalog(
        self, catalog: CatalogName, catalog_writes: NamedDependency[CatalogWrites]
    ) -> None:
        annotate(catalog=catalog)
        await catalog_writes.delete(catalog)

    @requires("write")
    @post(
        "/{catalog:str}/products",
        status_code=HTTP_200_OK,
        summary="Upsert products in bulk (JSON array or NDJSON); a result per row",
        opt=_BULK,
        operation_class=RowsOperation,
    )
    async def upsert_products(
        self,
        catalog: CatalogName,
        request: Request[Any, Any, Any],
        catalog_writes: NamedDependency[CatalogWrites],
        state: State,
        dry_run: FromQuery[bool] = False,
    ) -> UpsertOut:
        annotate(catalog=catalog, dry_run=dry_run)
        body = await cast(AisleRequest, request).checked_body()
        media_type = request.content_type[0].lower()
        rows = split_rows(body, ndjson=media_type in NDJSON_TYPES)
        annotate(rows=len(rows))
        report = await catalog_writes.upsert(catalog, rows, dry_run=dry_run)
        out = UpsertOut.of(report)
        counts = {"created": out.created, "updated": out.updated, "unchanged": out.unchanged}
        counts["error"] = out.errors
        if not dry_run:
            _record(state, counts, out.embedded)
        annotate(timings_ms=out.timings_ms)
        return out

    @requires("write")
    @post(
        "/{catalog:str}/products/delete",
        status_code=HTTP_200_OK,
        summary="Delete products by id; unknown ids are reported, not errors",
        opt=_BULK,
    )
    async def delete_products(
        self,
        catalog: CatalogName,
        data: JSONBody[DeleteIn],
        catalog_writes: NamedDependency[CatalogWrites],
        state: State,
    ) -> DeleteOut:
        annotate(catalog=catalog)
        report = await catalog_writes.delete_products(catalog, data.ids)
        _record(state, {"deleted": len(report.deleted)})
        return DeleteOut.of(report)

    @requires("write")
    @post(
        "/{catalog:str}/sync",
        status_code=HTTP_200_OK,
        summary="Finish a full sync: delete the products the input does not name (guarded)",
        opt=_BULK,
        responses=_conflict("refused: it would delete more than max_delete_fraction (`sync_refused`)"),
    )
    async def sync(
        self,
        catalog: CatalogName,
        data: JSONBody[SyncIn],
        catalog_writes: NamedDependency[CatalogWrites],
        state: State,
    ) -> SyncOut:
        annotate(catalog=catalog, dry_run=data.dry_run)
        report = await catalog_writes.sync(
            catalog,
            data.ids,
            failed_rows=data.failed_rows,
            max_delete_fraction=data.max_delete_fraction,
            force=data.force,
            dry_run=data.dry_run,
        )
        if not data.dry_run:
            _record(state, {"deleted": len(report.deleted)})
        return SyncOut.of(report)


@requires("write")
@patch(
    PRODUCT_PATH,
    status_code=HTTP_200_OK,
    summary="Change some fields of one product (price, stock...: no re-embedding)",
    tags=TAGS,
    opt=_ADMIT,
)
async def patch_product(
    catalog: CatalogName,
    product_id: FromPath[str],
    data: JSONBody[ProductPatchIn],
    catalog_writes: NamedDependency[CatalogWrites],
    state: State,
) -> PatchOut:
    annotate(catalog=catalog)
    report = await catalog_writes.patch(catalog, product_id, data.to_changes())
    _record(state, {report.result: 1}, int(report.embedded))
    return PatchOut.of(report)


@requires("write")
@delete(
    PRODUCT_PATH,
    status_code=HTTP_204_NO_CONTENT,
    summary="Delete one product (idempotent)",
    tags=TAGS,
    opt=_ADMIT,
)
async def delete_product(
    catalog: CatalogName,
    product_id: FromPath[str],
    catalog_writes: NamedDependency[CatalogWrites],
    state: State,
) -> None:
    annotate(catalog=catalog)
    report = await catalog_writes.delete_products(catalog, [product_id])
    _record(state, {"deleted": len(report.deleted)})


PRODUCT_ROUTES = [patch_product, delete_product]
