"""The trust boundary over HTTP: routes declare what they need, one guard enforces it.

`@requires("search")` on a route handler records the access it needs (its `opt`), declares the
security schemes and the 401/403/429 (and, for catalog routes, 404) responses in OpenAPI; the
app-level `guard` reads that and runs the Gate (app/auth/gate.py) once per request, before the
body is decoded. A handler never checks keys itself. Fail closed: a /v1 route that declares
nothing is refused. The caller's principal is the `principal` dependency for handlers that filter
by it (the catalog list, key admin).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityRequirement, SecurityScheme

from app.api.dto import ErrorBody
from app.api.request_log import annotate
from app.auth.gate import Gate
from app.auth.principal import ACCESS, Access, Principal
from app.domain.errors import Forbidden

H = TypeVar("H", bound=HTTPRouteHandler)
ACCESS_OPT = "access"
PROTECTED_PREFIX = "/v1"

SECURITY_COMPONENTS = Components(
    security_schemes={
        "bearer": SecurityScheme(
            type="http", scheme="bearer", description="`Authorization: Bearer aisle_<id>_<secret>`"
        ),
        "apiKey": SecurityScheme(
            type="apiKey", name="X-API-Key", security_scheme_in="header", description="the same key"
        ),
    }
)
SECURITY: list[SecurityRequirement] = [{"bearer": []}, {"apiKey": []}]


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(ErrorBody, description=description, generate_examples=False)


def requires(access: Access) -> Callable[[H], H]:
    """Declare the access a route needs; put it above the route decorator."""
    if access not in ACCESS:
        raise ValueError(f"unknown access {access!r}")

    def declare(handler: H) -> H:
        handler.opt[ACCESS_OPT] = access
        handler.security = SECURITY
        errors = {
            401: _spec("missing, unknown or revoked API key (`WWW-Authenticate: Bearer`)"),
            429: _spec("the key's rate limit is spent; `Retry-After` says when to retry (seconds)"),
        }
        if access != "any":
            errors[403] = _spec(f"the key lacks the `{access}` scope")
        if any("{catalog" in path for path in handler.paths):
            errors[404] = _spec("unknown catalog, or one this key is not bound to (indistinguishable)")
        handler.responses = {**errors, **(handler.responses or {})}
        return handler

    return declare


def token_of(headers: Mapping[str, str]) -> str | None:
    """`Authorization: Bearer <key>` first, else `X-API-Key: <key>`."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        return (value.strip() or None) if scheme.lower() == "bearer" else None
    return headers.get("x-api-key", "").strip() or None


async def guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    access = handler.opt.get(ACCESS_OPT)
    if connection.scope.get("method") == "OPTIONS":
        return  # CORS preflights carry no credentials (litestar's CORS middleware answers them)
    if access is None:
        if str(connection.scope.get("path", "")).startswith(PROTECTED_PREFIX):
            raise Forbidden("this route declares no access rule")  # fail closed
        return  # public: health, readiness, metrics, the OpenAPI document
    gate: Gate = connection.app.state.gate
    catalog = connection.path_params.get("catalog")
    principal = await gate.admit(token_of(connection.headers), access, catalog)
    connection.state.principal = principal
    annotate(key_id=principal.key_id)


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """What the guard admitted (it runs before any dependency is resolved)."""
    principal: Principal = request.state.principal
    return principal
