"""Token -> Principal, with the store behind a short cache.

Every request with a key needs its stored record; reading the store each time would put a
database round trip (PostgreSQL) on every search. Records, and unknown ids, are cached for
`cache_ttl_s` (AISLE_KEY_CACHE_S, 5 s by default): a key revoked on this replica stops working at
once (`forget`), on other replicas within the TTL. The cache is bounded (LRU).
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from collections.abc import Callable

from app.auth.principal import Principal
from app.auth.tokens import hash_token, key_id_of, matches
from app.domain.control_plane import ApiKey
from app.domain.errors import Unauthenticated
from app.ports import KeyStore

BOOTSTRAP_KEY_ID = "bootstrap"


class Authenticator:
    def __init__(
        self,
        store: KeyStore,
        *,
        bootstrap_token: str | None = None,
        cache_ttl_s: float = 5.0,
        max_cached: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._bootstrap_hash = hash_token(bootstrap_token) if bootstrap_token else None
        self._ttl = cache_ttl_s
        self._max = max_cached
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, ApiKey | None]] = OrderedDict()

    async def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated("an API key is required: send `Authorization: Bearer <key>` or `X-API-Key`")
        presented = hash_token(token)
        if self._bootstrap_hash is not None and hmac.compare_digest(presented, self._bootstrap_hash):
            return Principal.root(BOOTSTRAP_KEY_ID)
        key_id = key_id_of(token)
        key = None if key_id is None else await self._lookup(key_id)
        if key is None or not matches(token, key.secret_hash) or not key.active:
            raise Unauthenticated("invalid or revoked API key")
        return Principal.of(key)

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)

    async def _lookup(self, key_id: str) -> ApiKey | None:
        now = self._clock()
        hit = self._cache.get(key_id)
        if hit is not None and hit[0] > now:
            self._cache.move_to_end(key_id)
            return hit[1]
        key = await self._store.get_key(key_id)
        if self._ttl > 0:
            self._cache[key_id] = (now + self._ttl, key)
            self._cache.move_to_end(key_id)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return key
