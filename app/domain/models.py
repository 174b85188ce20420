"""Domain values shared by the API, the ingestion pipeline and the evals.

Frozen dataclasses: a value crosses ports unchanged, so nobody downstream can mutate what an
adapter returned or what a request asked for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from app.domain.errors import InvalidRequest

AttributeValue = str | float | bool
FacetField = Literal["category", "brand"]
Vector = Sequence[float]

CATALOG_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_CATALOG_NAME = re.compile(CATALOG_NAME_PATTERN)


def filter_key(value: str) -> str:
    """Filters match brand and category case- and whitespace-insensitively."""
    return " ".join(value.split()).casefold()


def validate_catalog_name(name: str) -> str:
    """Catalog names become directory and collection names, so they are kept to a safe alphabet."""
    if not _CATALOG_NAME.fullmatch(name):
        raise InvalidRequest(
            "catalog",
            "catalog names are 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit",
        )
    return name


@dataclass(frozen=True, slots=True)
class Product:
    """A product in Aisle's canonical format (docs/catalog-format.md)."""

    id: str
    title: str
    brand: str = ""
    description: str = ""
    category: str = ""
    price: float | None = None
    currency: str = "USD"
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    in_stock: bool = True


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Lexical term weights (indices sorted, unique); Qdrant applies IDF at query time."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class IndexRecord:
    """What the vector index stores for one product: the product, its dense vector, its lexical
    sparse vector (absent for dense-only callers), its content hash."""

    product: Product
    vector: Vector
    content_hash: str
    sparse: SparseVector | None = None


@dataclass(frozen=True, slots=True)
class Filters:
    """Hard constraints on retrieval. Empty tuples and None mean "no constraint".

    `category` and `brand` match case-insensitively (any of the listed values), and so do their
    `exclude_` counterparts (none of the listed values); the price range is inclusive.
    """

    category: tuple[str, ...] = ()
    brand: tuple[str, ...] = ()
    price_min: float | None = None
    price_max: float | None = None
    in_stock: bool | None = None
    exclude_ids: tuple[str, ...] = ()
    exclude_brand: tuple[str, ...] = ()
    exclude_category: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise InvalidRequest("filters.price_min", "price_min must not exceed price_max")

    def excluding(self, ids: Sequence[str]) -> Filters:
        return replace(self, exclude_ids=tuple(dict.fromkeys((*self.exclude_ids, *ids))))


@dataclass(frozen=True, slots=True)
class Fusion:
    """Weighted reciprocal-rank fusion of the dense and lexical candidate lists, inside Qdrant:
    score = sum over the lists a product appears in of 1 / ((rank + 1) / weight + k - 1), rank
    counted from 0 (Qdrant's formula: a weight stretches or shrinks the rank)."""

    k: int = 60
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    depth: int = 100  # candidates taken from each list before fusing


@dataclass(frozen=True, slots=True)
class VectorQuery:
    """A query against one catalog's index.

    - one positive, no negatives, no `sparse`: dense nearest-neighbour search;
    - several positives or any negatives: a recommendation query (best-score strategy);
    - `sparse` and no positives: lexical search (BM25 weights x IDF);
    - one positive and `sparse`: hybrid, both lists fused by `fusion`.
    """

    positives: tuple[Vector, ...]
    negatives: tuple[Vector, ...] = ()
    filters: Filters = Filters()
    limit: int = 10
    sparse: SparseVector | None = None
    fusion: Fusion = Fusion()


@dataclass(frozen=True, slots=True)
class ScoredProduct:
    product: Product
    score: float
    content_hash: str = ""  # identifies this version of the product in LLM cache keys


@dataclass(frozen=True, slots=True)
class CatalogInfo:
    name: str
    product_count: int
