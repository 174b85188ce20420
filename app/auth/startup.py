"""Start-up of the trust boundary: refuse to serve with auth on and no admin key; say loudly
when auth is off; build the Gate and the KeyAdmin the routes use."""

from __future__ import annotations

import structlog

from app.auth.admin import KeyAdmin
from app.auth.authenticator import Authenticator
from app.auth.gate import Gate
from app.domain.control_plane import RateLimit
from app.ports import ControlStore, RateLimiter
from app.settings import Settings, SettingsError

log = structlog.get_logger("aisle.auth")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}

NO_ADMIN_KEY = (
    "auth is on (AISLE_AUTH defaults to on) but no admin key is configured: set AISLE_ADMIN_KEY to a "
    "random secret of 32+ characters, or create a key with `aisle keys create --name admin --scope admin "
    "--all-catalogs`; for local development only, AISLE_AUTH=off (docs/security.md)"
)


async def open_gate(settings: Settings, store: ControlStore, limiter: RateLimiter) -> tuple[Gate, KeyAdmin]:
    authenticator = Authenticator(
        store, bootstrap_token=settings.admin_key, cache_ttl_s=float(settings.key_cache_s)
    )
    default = (
        RateLimit(settings.rate_limit_rps, settings.rate_limit_burst) if settings.rate_limit_rps > 0 else None
    )
    gate = Gate(authenticator, limiter, default, enabled=settings.auth)
    if not settings.auth:
        log.warning(
            "auth_disabled",
            message="AISLE_AUTH=off: every route, key administration included, is open to anyone who "
            "can reach this port; for local development only",
            host=settings.host,
            loopback=settings.host in _LOOPBACK,
        )
    elif settings.admin_key is None and not any(
        k.active and "admin" in k.scopes for k in await store.list_keys()
    ):
        log.error("startup_refused", reason=NO_ADMIN_KEY)
        raise SettingsError(NO_ADMIN_KEY)
    return gate, KeyAdmin(store, authenticator)
