"""The trust boundary for one request: authenticate -> rate limit -> authorize.

Run once per request by the HTTP guard (app/api/auth.py) with what the route declared. The rate
limit comes before authorization so that a key hammering routes it may not use is slowed as well.
With auth off (AISLE_AUTH=off, local development) every request is the root principal
"anonymous" and nothing is limited: there are no keys to limit by.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.authenticator import Authenticator
from app.auth.principal import Access, Principal, authorize
from app.domain.control_plane import RateLimit
from app.domain.errors import RateLimited
from app.ports import RateLimiter

ANONYMOUS = Principal.root("anonymous")


@dataclass(frozen=True, slots=True)
class Gate:
    authenticator: Authenticator
    limiter: RateLimiter
    default_limit: RateLimit | None  # None: keys without their own limit are not limited
    enabled: bool = True

    async def admit(self, token: str | None, access: Access, catalog: str | None) -> Principal:
        if not self.enabled:
            return ANONYMOUS
        principal = await self.authenticator.authenticate(token)
        limit = self.limit_for(principal)
        if limit is not None:
            wait = await self.limiter.acquire(f"key:{principal.key_id}", limit)
            if wait is not None:
                raise RateLimited(wait)
        authorize(principal, access, catalog)
        return principal

    def limit_for(self, principal: Principal) -> RateLimit | None:
        if principal.rate_per_s is not None and principal.burst is not None:
            return RateLimit(principal.rate_per_s, principal.burst)
        return self.default_limit
