"""What the catalog write use case tells the rest of the process after a change.

The process keeps state per catalog outside the index: vocabularies, the ranker's statistics,
the item ids events are checked against, the behavioural models. Each of them subscribes to
`CatalogChange`s in the composition root (app/main.py), so the write use case imports none of
them and they import no use case; a new cache subscribes the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

# "products": products were upserted, patched or deleted (`ids`);
# "created" / "dropped": the catalog was created or deleted, so nothing kept under its name
# belongs to it any longer (a recreated catalog must not inherit the deleted one's state).
ChangeKind = Literal["products", "created", "dropped"]


@dataclass(frozen=True, slots=True)
class CatalogChange:
    catalog: str
    kind: ChangeKind
    ids: tuple[str, ...] = ()  # "products": the ids written or deleted

    @property
    def catalog_replaced(self) -> bool:
        """Whatever is kept under the catalog's name is to be forgotten, not just refreshed."""
        return self.kind != "products"


class CatalogListener(Protocol):
    async def catalog_changed(self, change: CatalogChange) -> None:
        """Called in the writing process once the change is durable (a catalog deletion is also
        announced before the store deletes its events: handling a change twice must be harmless).
        Quick (forget, or mark stale and rebuild later, off the request); an error is logged by
        the caller and does not fail the write, which has happened."""
        ...
