"""Who is calling and what they may do: the one authorization policy, pure.

Order of checks for a route: the catalog first, then the scope. A key that is not bound to the
catalog gets the very 404 an unknown catalog gets (so a key bound to catalog A cannot tell whether
catalog B exists); a key bound to the catalog but lacking the scope gets 403.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from app.domain.control_plane import SCOPES, ApiKey, Scope
from app.domain.errors import CatalogNotFound, Forbidden

# What a route needs: one scope, or "any" valid key (listing the catalogs a key may see).
Access = Literal["search", "write", "admin", "events", "any"]
ACCESS: tuple[Access, ...] = ("search", "write", "admin", "events", "any")
# A scope that also grants another route's access: whoever may write a catalog may send its events.
ALSO_GRANTS: dict[str, frozenset[Access]] = {"write": frozenset({"events"})}


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    scopes: frozenset[Scope]
    catalogs: tuple[str, ...] | None  # None: every catalog
    rate_per_s: float | None = None
    burst: int | None = None

    @classmethod
    def of(cls, key: ApiKey) -> Principal:
        return cls(key.id, key.scopes, key.catalogs, key.rate_per_s, key.burst)

    @classmethod
    def root(cls, key_id: str) -> Principal:
        """Every scope on every catalog: the bootstrap admin key, the CLI operator, auth off."""
        return cls(key_id, frozenset(SCOPES), None)

    def sees(self, catalog: str) -> bool:
        return self.catalogs is None or catalog in self.catalogs

    def visible(self, catalogs: Iterable[str]) -> list[str]:
        return [c for c in catalogs if self.sees(c)]


def authorize(principal: Principal, access: Access, catalog: str | None) -> None:
    if catalog is not None and not principal.sees(catalog):
        raise CatalogNotFound(catalog)
    if access == "any" or access in principal.scopes:
        return
    if not any(access in ALSO_GRANTS.get(scope, ()) for scope in principal.scopes):
        wanted = " or ".join(repr(s) for s in (access, *(k for k, v in ALSO_GRANTS.items() if access in v)))
        raise Forbidden(f"this API key lacks the {wanted} scope")


def manages(principal: Principal, key: ApiKey) -> bool:
    """An admin key bound to some catalogs manages only keys bound within those catalogs."""
    if principal.catalogs is None:
        return True
    return key.catalogs is not None and set(key.catalogs) <= set(principal.catalogs)


def check_grant(principal: Principal, catalogs: tuple[str, ...] | None) -> None:
    """An admin key hands out keys within its own catalogs only. Any scope: `admin` on a catalog
    already allows everything on it (later: deleting it), so granting `write` there adds nothing."""
    if principal.catalogs is None:
        return
    if catalogs is None:
        raise Forbidden("this API key is bound to some catalogs and cannot grant every catalog")
    beyond = sorted(set(catalogs) - set(principal.catalogs))
    if beyond:
        raise Forbidden(f"this API key cannot grant catalogs beyond its own: {beyond}")
