"""Key administration, the use case behind `aisle keys ...` and `/v1/keys`: create (the secret is
returned once, only its hash is stored), list, revoke; within what the caller may grant."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from app.auth.authenticator import Authenticator
from app.auth.principal import Principal, check_grant, manages
from app.auth.tokens import hash_token, new_key_id, new_token
from app.domain.control_plane import SCOPES, ApiKey, Scope
from app.domain.errors import InvalidRequest, NotFound
from app.domain.models import validate_catalog_name
from app.ports import KeyStore

MAX_NAME = 100
MAX_CATALOGS = 1000


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    token: str  # the secret: shown to the caller once, never stored


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _validate(
    name: str, scopes: Sequence[str], catalogs: Sequence[str] | None, rate: float | None, burst: int | None
) -> tuple[frozenset[Scope], tuple[str, ...] | None]:
    if not name.strip() or len(name) > MAX_NAME:
        raise InvalidRequest("name", f"a key needs a name of 1-{MAX_NAME} characters")
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise InvalidRequest(
            "scopes", f"one or more of {list(SCOPES)}" + (f"; unknown: {unknown}" if unknown else "")
        )
    bound = None
    if catalogs is not None:
        if not catalogs or len(catalogs) > MAX_CATALOGS:
            raise InvalidRequest("catalogs", f"1-{MAX_CATALOGS} catalog names, or every catalog")
        for n, catalog in enumerate(catalogs):
            try:
                validate_catalog_name(catalog)
            except InvalidRequest as e:
                raise InvalidRequest(f"catalogs[{n}]", e.message) from e
        bound = tuple(dict.fromkeys(catalogs))
    if (rate is None) != (burst is None):
        raise InvalidRequest("rate_limit", "give both the rate per second and the burst, or neither")
    if rate is not None and burst is not None and (not 0 < rate <= 1e6 or not 1 <= burst <= 1_000_000):
        raise InvalidRequest("rate_limit", "per_second in (0, 1e6] and burst in [1, 1e6]")
    return frozenset(s for s in SCOPES if s in scopes), bound


class KeyAdmin:
    def __init__(
        self,
        store: KeyStore,
        authenticator: Authenticator | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._authenticator = authenticator
        self._clock = clock

    async def create(
        self,
        caller: Principal,
        name: str,
        scopes: Sequence[str],
        catalogs: Sequence[str] | None,
        *,
        rate_per_s: float | None = None,
        burst: int | None = None,
    ) -> IssuedKey:
        granted, bound = _validate(name, scopes, catalogs, rate_per_s, burst)
        check_grant(caller, bound)
        key_id = new_key_id()
        token = new_token(key_id)
        key = ApiKey(
            id=key_id,
            name=name.strip(),
            secret_hash=hash_token(token),
            scopes=granted,
            catalogs=bound,
            created_at=self._clock(),
            rate_per_s=rate_per_s,
            burst=burst,
        )
        await self._store.add_key(key)
        return IssuedKey(key, token)

    async def list(self, caller: Principal) -> list[ApiKey]:
        return [k for k in await self._store.list_keys() if manages(caller, k)]

    async def revoke(self, caller: Principal, key_id: str) -> ApiKey:
        """NotFound for an unknown key and for one the caller does not manage (no existence leak)."""
        key = await self._store.get_key(key_id)
        if key is None or not manages(caller, key):
            raise NotFound(f"API key {key_id!r} does not exist")
        await self._store.revoke_key(key_id, self._clock())
        if self._authenticator is not None:
            self._authenticator.forget(key_id)
        revoked = await self._store.get_key(key_id)
        assert revoked is not None
        return revoked
