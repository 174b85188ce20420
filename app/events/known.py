"""Which item ids a catalog knows, and their categories: what an event batch is checked against.

A batch of 100 events names a few dozen distinct items, mostly the same popular ones batch after
batch: ids found in the index are remembered (with their category key) for `ttl_s`, so the write
path asks the index only about ids it has not seen lately. Unknown ids are never remembered: the
item may be ingested a minute later. The memory is bounded (`max_items`; cleared when full).
Catalog writes in this process are heard at once (`catalog_changed`): a deleted or patched item
is forgotten, and so is a dropped catalog, whose events are then refused at once, not after the TTL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from app.domain.catalog_changes import CatalogChange
from app.domain.models import filter_key
from app.ports import VectorIndex


class KnownItems:
    def __init__(
        self,
        index: VectorIndex,
        *,
        ttl_s: float = 300.0,
        max_items: int = 500_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._index = index
        self._ttl_s = ttl_s
        self._max_items = max_items
        self._clock = clock
        self._seen: dict[tuple[str, str], tuple[str, float]] = {}  # -> (category key, expires)

    async def categories(self, catalog: str, ids: Sequence[str]) -> dict[str, str]:
        """The known ids among `ids`, each with its category key ("" when it has none). Raises
        CatalogNotFound for an unknown catalog (when the index has to be asked)."""
        now = self._clock()
        known: dict[str, str] = {}
        ask = []
        for item in dict.fromkeys(ids):
            hit = self._seen.get((catalog, item))
            if hit is not None and hit[1] > now:
                known[item] = hit[0]
            else:
                ask.append(item)
        if ask:
            records = await self._index.retrieve(catalog, ask)
            if len(self._seen) + len(records) > self._max_items:
                self._seen.clear()
            for r in records:
                category = filter_key(r.product.category)
                known[r.product.id] = category
                self._seen[(catalog, r.product.id)] = (category, now + self._ttl_s)
        return known

    async def catalog_changed(self, change: CatalogChange) -> None:
        """A `CatalogListener`: forget the changed ids (deleted, or a category that may have
        changed), or every id of a catalog created or dropped."""
        if change.catalog_replaced:
            for key in [k for k in self._seen if k[0] == change.catalog]:
                del self._seen[key]
        else:
            for item in change.ids:
                self._seen.pop((change.catalog, item), None)
