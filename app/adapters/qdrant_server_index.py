"""`QdrantServerIndex`: a Qdrant server or cluster through qdrant-client (the scale-out path).

One collection per catalog, named `<prefix><catalog>`. Tested against qdrant-client's `:memory:`
local mode, which runs the same client code paths; production points `QDRANT_URL` at a server.
Every write waits for the server (`wait=True`): it answers once the operation is applied, and
Qdrant writes each operation to its write-ahead log before applying it, so `flush` has nothing
left to do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

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
    scored,
    stock_key,
    to_payload,
)
from app.domain.errors import CatalogNotFound, IndexIncompatible, IndexUnavailable
from app.domain.models import CatalogInfo, FacetField, Filters, IndexRecord, ScoredProduct, VectorQuery

T = TypeVar("T")
_SCROLL_PAGE = 1000


def server_filter(filters: Filters) -> models.Filter | None:
    must: list[models.Condition] = []
    if filters.category:
        must.append(
            models.FieldCondition(
                key="category_key", match=models.MatchAny(any=[filter_key(c) for c in filters.category])
            )
        )
    if filters.brand:
        must.append(
            models.FieldCondition(
                key="brand_key", match=models.MatchAny(any=[filter_key(b) for b in filters.brand])
            )
        )
    if filters.price_min is not None or filters.price_max is not None:
        must.append(
            models.FieldCondition(
                key="price", range=models.Range(gte=filters.price_min, lte=filters.price_max)
            )
        )
    if filters.in_stock is not None:
        must.append(
            models.FieldCondition(key="stock_key", match=models.MatchValue(value=stock_key(filters.in_stock)))
        )
    must_not: list[models.Condition] = []
    if filters.exclude_ids:
        must_not.append(models.HasIdCondition(has_id=[point_id(i) for i in filters.exclude_ids]))
    for key, values in (("brand_key", filters.exclude_brand), ("category_key", filters.exclude_category)):
        if values:
            must_not.append(
                models.FieldCondition(key=key, match=models.MatchAny(any=[filter_key(v) for v in values]))
            )
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)


def server_query(query: VectorQuery) -> models.NearestQuery | models.RecommendQuery:
    positives: list[Any] = [list(v) for v in query.positives]
    negatives: list[Any] = [list(v) for v in query.negatives]
    if len(positives) == 1 and not negatives:
        return models.NearestQuery(nearest=positives[0])
    return models.RecommendQuery(
        recommend=models.RecommendInput(
            positive=positives,
            negative=negatives,
            strategy=models.RecommendStrategy.BEST_SCORE,
        )
    )


def server_point(record: IndexRecord) -> models.PointStruct:
    vector: Any = list(record.vector)
    if record.sparse is not None:
        sparse = models.SparseVector(indices=list(record.sparse.indices), values=list(record.sparse.values))
        vector = {"": vector, SPARSE_NAME: sparse}
    return models.PointStruct(
        id=point_id(record.product.id), vector=vector, payload=to_payload(record.product, record.content_hash)
    )


class QdrantServerIndex:
    def __init__(self, client: AsyncQdrantClient, *, collection_prefix: str = "aisle_") -> None:
        self._client = client
        self._prefix = collection_prefix

    @classmethod
    def connect(
        cls, url: str, api_key: str | None, *, collection_prefix: str = "aisle_", timeout_s: int = 10
    ) -> QdrantServerIndex:
        """`url` is a server URL, or `:memory:` for qdrant-client's in-process local mode."""
        if url == ":memory:":
            return cls(AsyncQdrantClient(location=":memory:"), collection_prefix=collection_prefix)
        return cls(
            AsyncQdrantClient(url=url, api_key=api_key, timeout=timeout_s),
            collection_prefix=collection_prefix,
        )

    def _collection(self, catalog: str) -> str:
        return f"{self._prefix}{catalog}"

    async def _call(self, catalog: str | None, call: Awaitable[T]) -> T:
        try:
            return await call
        except UnexpectedResponse as e:
            if e.status_code == 404 and catalog is not None:
                raise CatalogNotFound(catalog) from e
            raise IndexUnavailable(f"qdrant server: {e}") from e
        except ValueError as e:  # local mode raises ValueError for a missing collection
            if catalog is not None and "not found" in str(e).lower():
                raise CatalogNotFound(catalog) from e
            raise IndexUnavailable(f"qdrant: {e}") from e
        except Exception as e:
            raise IndexUnavailable(f"qdrant server: {e}") from e

    async def _require(self, catalog: str) -> None:
        if not await self._call(None, self._client.collection_exists(self._collection(catalog))):
            raise CatalogNotFound(catalog)

    async def query(self, catalog: str, query: VectorQuery) -> list[ScoredProduct]:
        flt = server_filter(query.filters)
        sparse = query.sparse
        kwargs: dict[str, Any]
        if sparse is None or (not sparse.indices and query.positives):
            kwargs = {"query": server_query(query)}
        else:
            if not sparse.indices:
                await self._require(catalog)
                return []  # a lexical query with no usable term matches nothing
            lexical = models.SparseVector(indices=list(sparse.indices), values=list(sparse.values))
            if not query.positives:
                kwargs = {"query": lexical, "using": SPARSE_NAME}
            else:
                depth = max(query.fusion.depth, query.limit)
                weights = [query.fusion.dense_weight, query.fusion.sparse_weight]
                kwargs = {
                    "prefetch": [
                        models.Prefetch(query=server_query(query), limit=depth, filter=flt),
                        models.Prefetch(query=lexical, using=SPARSE_NAME, limit=depth, filter=flt),
                    ],
                    "query": models.RrfQuery(rrf=models.Rrf(k=query.fusion.k, weights=weights)),
                }
        response = await self._call(
            catalog,
            self._client.query_points(
                self._collection(catalog), query_filter=flt, limit=query.limit, with_payload=True, **kwargs
            ),
        )
        return [scored(p.payload or {}, float(p.score)) for p in response.points]

    async def retrieve(self, catalog: str, ids: Sequence[str]) -> list[IndexRecord]:
        await self._require(catalog)
        records = await self._call(
            catalog,
            self._client.retrieve(
                self._collection(catalog),
                ids=[point_id(i) for i in ids],
                with_payload=True,
                with_vectors=True,
            ),
        )
        out = []
        for r in records:
            payload = r.payload or {}
            out.append(
                IndexRecord(from_payload(payload), dense_vector(r.vector), str(payload.get(HASH_FIELD, "")))
            )
        return out

    async def catalogs(self) -> list[CatalogInfo]:
        response = await self._call(None, self._client.get_collections())
        out = []
        for c in sorted(response.collections, key=lambda c: c.name):
            if c.name.startswith(self._prefix):
                count = await self._call(None, self._client.count(c.name, exact=True))
                out.append(CatalogInfo(c.name.removeprefix(self._prefix), count.count))
        return out

    async def facet(self, catalog: str, field: FacetField, limit: int = 1000) -> dict[str, int]:
        response = await self._call(
            catalog,
            self._client.facet(self._collection(catalog), FACET_KEYS[field], limit=limit, exact=True),
        )
        return {str(h.value): int(h.count) for h in response.hits if str(h.value)}

    async def ensure_catalog(self, catalog: str, dimension: int) -> bool:
        name = self._collection(catalog)
        if await self._call(None, self._client.collection_exists(name)):
            info = await self._call(catalog, self._client.get_collection(name))
            params: Any = info.config.params.vectors
            size = params.size if isinstance(params, models.VectorParams) else None
            if size != dimension:
                raise IndexIncompatible(
                    f"collection {name!r} holds {size}-d vectors, the embedder makes {dimension}-d"
                )
            return False
        await self._call(
            None,
            self._client.create_collection(
                name,
                vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
                sparse_vectors_config={SPARSE_NAME: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            ),
        )
        schemas = [(f, models.PayloadSchemaType.KEYWORD) for f in KEYWORD_FIELDS] + [
            (f, models.PayloadSchemaType.FLOAT) for f in FLOAT_FIELDS
        ]
        for field_name, schema in schemas:
            await self._call(catalog, self._client.create_payload_index(name, field_name, schema))
        return True

    async def drop_catalog(self, catalog: str) -> bool:
        name = self._collection(catalog)
        if not await self._call(None, self._client.collection_exists(name)):
            return False
        await self._call(None, self._client.delete_collection(name))
        return True

    async def upsert(self, catalog: str, records: Sequence[IndexRecord]) -> None:
        points = [server_point(r) for r in records]
        await self._call(catalog, self._client.upsert(self._collection(catalog), points=points, wait=True))

    async def delete(self, catalog: str, ids: Sequence[str]) -> None:
        selector = models.PointIdsList(points=[point_id(i) for i in ids])
        await self._call(
            catalog, self._client.delete(self._collection(catalog), points_selector=selector, wait=True)
        )

    async def flush(self, catalog: str) -> None:
        """Every write already waited for the server (`wait=True`)."""
        await self._require(catalog)

    async def fingerprints(self, catalog: str, ids: Sequence[str] | None = None) -> dict[str, str]:
        await self._require(catalog)
        out: dict[str, str] = {}
        if ids is not None:
            records = await self._call(
                catalog,
                self._client.retrieve(
                    self._collection(catalog),
                    ids=[point_id(i) for i in dict.fromkeys(ids)],
                    with_payload=["product_id", HASH_FIELD],
                    with_vectors=False,
                ),
            )
            for r in records:
                payload = r.payload or {}
                out[str(payload["product_id"])] = str(payload.get(HASH_FIELD, ""))
            return out
        offset: Any = None
        while True:
            records, offset = await self._call(
                catalog,
                self._client.scroll(
                    self._collection(catalog),
                    limit=_SCROLL_PAGE,
                    offset=offset,
                    with_payload=["product_id", HASH_FIELD],
                    with_vectors=False,
                ),
            )
            for r in records:
                payload = r.payload or {}
                out[str(payload["product_id"])] = str(payload.get(HASH_FIELD, ""))
            if offset is None:
                return out

    async def optimize(self, catalog: str) -> None:
        """A server indexes in the background by its own optimizer config; nothing to do."""

    async def close(self) -> None:
        await self._client.close()
