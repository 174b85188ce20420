"""`Allow` lists every method a resource supports.

litestar answers OPTIONS itself, but for a path served by several handlers (GET and PUT
complements) its `Allow` named only the first handler's methods: a client or a contract test
was told PUT does not exist. This middleware rewrites `Allow` on the way out from the app's own
route table, filled in by `create_app` once the routes exist.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send


def route_methods(app: Litestar) -> dict[str, bytes]:
    """path template -> the `Allow` value for it."""
    out: dict[str, bytes] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            out[route.path_format] = ", ".join(sorted(set(route.methods) | {"OPTIONS"})).encode()
    return out


def allow_middleware(allowed: MutableMapping[str, bytes]) -> Callable[[ASGIApp], ASGIApp]:
    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            value = allowed.get(scope.get("path_template") or "") if scope["type"] == ScopeType.HTTP else None
            if value is None:
                await app(scope, receive, send)
                return

            async def send_with_allow(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    if any(name.lower() == b"allow" for name, _ in headers):
                        headers = [(n, v) for n, v in headers if n.lower() != b"allow"] + [(b"allow", value)]
                        message["headers"] = headers
                await send(message)

            await app(scope, receive, send_with_allow)

        return middleware

    return factory
