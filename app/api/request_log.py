"""Edge middleware: bind the request id, echo it back, and write one canonical line per request.

Handlers add what they know (catalog, result count, stage timings) with
`structlog.contextvars.bind_contextvars`; this middleware merges it into the single line it logs
when the response is done, so a request is one grep away.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("aisle.request")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_ROUTES = {"/healthz", "/readyz", "/metrics"}


def _incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


def canonical_log_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=request_id,
            method=scope.get("method"),
            route=scope.get("path_template") or scope.get("path"),
        )
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            duration_ms = round((time.perf_counter() - start) * 1000.0, 3)
            quiet = scope.get("path_template") in _QUIET_ROUTES and status < 400
            emit = log.debug if quiet else log.info
            emit("request", status=status, duration_ms=duration_ms, path=scope.get("path"))
            structlog.contextvars.clear_contextvars()

    return middleware
