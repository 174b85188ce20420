"""Values of the control plane: API keys, their scopes and catalog bindings, catalog settings.

They are stored by the `ControlStore` adapters (app/ports.py) and read by the auth edge
(app/auth/, app/api/auth.py); nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Scope = Literal["search", "write", "admin", "events"]
# search: the read routes (search, similar, assistant, bundles, recommendations, products,
# complement maps); write: a catalog's data and complement maps (and what `events` allows);
# admin: catalogs and keys; events: sending shopper events only (a storefront's browser key).
SCOPES: tuple[Scope, ...] = ("search", "write", "admin", "events")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: never the secret, only its hash (app/auth/tokens.py says why SHA-256).

    `catalogs` None means every catalog, present and future; a tuple binds the key to those names
    (which need not exist yet: a key can be issued before its catalog is created).
    """

    id: str
    name: str
    secret_hash: str
    scopes: frozenset[Scope]
    catalogs: tuple[str, ...] | None
    created_at: datetime
    revoked_at: datetime | None = None
    rate_per_s: float | None = None  # None: the server's default (AISLE_RATE_LIMIT_RPS)
    burst: int | None = None  # None: the server's default (AISLE_RATE_LIMIT_BURST)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class CatalogSettings:
    """What the control plane knows about a catalog besides its products (which the index holds)."""

    name: str
    created_at: datetime
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: `burst` requests at once, refilled at `per_second`."""

    per_second: float
    burst: int
