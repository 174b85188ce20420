"""Per-catalog vocabularies read from the index's facets, cached for a short time.

Stateful and over a port, so it lives here, below the use cases (the assistant and bundles share
one), not among the domain's values (app/domain/vocabulary.py holds `Vocabulary` itself).
"""

from __future__ import annotations

import time

from app.domain.catalog_changes import CatalogChange
from app.domain.vocabulary import Vocabulary
from app.ports import VectorIndex


class Vocabularies:
    """Per-catalog vocabulary, read from `VectorIndex.facet` at most once per `ttl_s`."""

    def __init__(self, index: VectorIndex, ttl_s: float = 60.0) -> None:
        self._index = index
        self._ttl = ttl_s
        self._cached: dict[str, tuple[float, Vocabulary]] = {}

    async def get(self, catalog: str) -> Vocabulary:
        """Raises CatalogNotFound for an unknown catalog."""
        hit = self._cached.get(catalog)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        categories = await self._index.facet(catalog, "category", limit=500)
        brands = await self._index.facet(catalog, "brand", limit=5000)
        vocabulary = Vocabulary(tuple(categories), tuple(brands))
        self._cached[catalog] = (time.monotonic() + self._ttl, vocabulary)
        return vocabulary

    def forget(self, catalog: str) -> None:
        self._cached.pop(catalog, None)

    async def catalog_changed(self, change: CatalogChange) -> None:
        """A `CatalogListener`: the assistant and bundles re-read the facets."""
        self.forget(change.catalog)
