"""The one table that maps errors to HTTP responses.

Domain errors map by type; litestar's decode errors are split by their msgspec cause so malformed
JSON is a 400 and a well-formed body that breaks the schema is a 422 naming the field. Anything
unexpected is a 500 that leaks nothing but the request id.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import structlog
from litestar import MediaType, Request, Response
from litestar.enums import ParamType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import ParameterKwarg
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap

from app.api.body import BodyRejected
from app.api.dto import ErrorBody
from app.domain.errors import (
    AisleError,
    AlreadyExists,
    DeletionRefused,
    DependencyUnavailable,
    Forbidden,
    IndexIncompatible,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from app.observability.metrics import UNMATCHED_ROUTE

log = structlog.get_logger("aisle.api")
_FIELD_PATH = re.compile(r"\s*-?\s*at `\$\.?([^`]*)`")
_MISSING_FIELD = re.compile(r"(?:missing required|unknown) field `([^`]+)`")

# Domain error type -> (status, error code). Most specific first: the first isinstance match wins.
DOMAIN_STATUS: tuple[tuple[type[AisleError], int, str], ...] = (
    (InvalidRequest, HTTP_422_UNPROCESSABLE_ENTITY, "invalid_request"),
    (Unauthenticated, HTTP_401_UNAUTHORIZED, "unauthenticated"),
    (Forbidden, HTTP_403_FORBIDDEN, "forbidden"),
    (RateLimited, HTTP_429_TOO_MANY_REQUESTS, "rate_limited"),
    (AlreadyExists, HTTP_409_CONFLICT, "already_exists"),
    (DeletionRefused, HTTP_409_CONFLICT, "sync_refused"),
    (NotFound, HTTP_404_NOT_FOUND, "not_found"),
    (IndexIncompatible, HTTP_409_CONFLICT, "index_incompatible"),
    (DependencyUnavailable, HTTP_503_SERVICE_UNAVAILABLE, "unavailable"),
    (AisleError, HTTP_500_INTERNAL_SERVER_ERROR, "internal_error"),
)


def _request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value else None


def error_response(status: int, error: str, message: str, field: str | None = None) -> Response[ErrorBody]:
    structlog.contextvars.bind_contextvars(error=error)
    body = ErrorBody(error=error, message=message, field=field, request_id=_request_id())
    return Response(body, status_code=status, media_type=MediaType.JSON)


def _headers(exc: AisleError) -> dict[str, str]:
    if isinstance(exc, Unauthenticated):
        return {"WWW-Authenticate": 'Bearer realm="aisle"'}
    if isinstance(exc, RateLimited):  # whole seconds (RFC 9110), never 0: "now" would mean a retry storm
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return {}


def handle_domain_error(_: Request[Any, Any, Any], exc: AisleError) -> Response[ErrorBody]:
    for kind, status, code in DOMAIN_STATUS:
        if isinstance(exc, kind):
            if status >= 500:
                log.error("domain_error", exc_info=exc)
            field = exc.field if isinstance(exc, InvalidRequest) else None
            message = exc.message if isinstance(exc, InvalidRequest) else str(exc)
            response = error_response(status, code, message, field)
            response.headers.update(_headers(exc))
            return response
    raise AssertionError("AisleError is the last row of DOMAIN_STATUS")  # pragma: no cover


def _msgspec_cause(exc: BaseException) -> msgspec.DecodeError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, msgspec.DecodeError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _wire_name(request: Request[Any, Any, Any], path: str) -> str:
    """A handler argument's name on the wire: a header (`X-Aisle-User-Id`), query or cookie
    parameter declared under another name is named as the client sends it, not as the argument
    the handler calls it (`user`)."""
    handler = request.scope.get("route_handler")
    if handler is None or "." in path:
        return path
    field = handler.signature_model._fields.get(path)
    kwarg = getattr(field, "kwarg_definition", None)
    if isinstance(kwarg, ParameterKwarg) and kwarg.name:
        return kwarg.name.title() if kwarg.param_type is ParamType.HEADER else kwarg.name
    return path


def _field_of(message: str, rename: Callable[[str], str] = str) -> tuple[str | None, str]:
    """msgspec says "Expected `int >= 1`, got `0` - at `$.limit`": return ("limit", message).

    Bodies are decoded by app/api/body.py straight into the handler's type (paths like
    `$.filters.price_min`); a path litestar built around its `data` argument loses that prefix.
    An unknown or missing field is named with its parent's path.
    """
    match = _FIELD_PATH.search(message)
    path = match.group(1) if match else ""
    if path == "data" or path.startswith(("data.", "data[")):  # litestar's lenient path: `$.data...`
        path = path.removeprefix("data").removeprefix(".")
    path = path.split("[...]", 1)[0]  # msgspec writes a mapping's key as `[...]`: name the mapping
    missing = _MISSING_FIELD.search(message)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    path = rename(path) if path else path
    clean = _FIELD_PATH.sub("", message).rstrip(" -")
    return (path or None), (f"{clean} (at {path})" if path else clean)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    if _request_id() is None:
        return _unrouted(request, exc)
    if isinstance(exc, BodyRejected):
        return error_response(exc.status_code, exc.error, exc.detail)
    cause = _msgspec_cause(exc)
    if isinstance(cause, msgspec.ValidationError):
        field, message = _field_of(str(cause), lambda path: _wire_name(request, path))
        return error_response(HTTP_422_UNPROCESSABLE_ENTITY, "invalid_request", message, field)
    if cause is not None:
        return error_response(
            HTTP_400_BAD_REQUEST, "malformed_json", f"request body is not valid JSON: {cause}"
        )
    if isinstance(exc, NotFoundException):
        return error_response(HTTP_404_NOT_FOUND, "not_found", exc.detail or "not found")
    status = exc.status_code
    code = "bad_request" if status == HTTP_400_BAD_REQUEST else f"http_{status}"
    return error_response(status, code, exc.detail or "request failed")


def _unrouted(request: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    """A request no route matched (404, 405) never passes the per-route middleware, so its request
    id, canonical log line and metric are written here; the line marks `route` as unrouted."""
    request_id = uuid.uuid4().hex
    status = exc.status_code
    code = "not_found" if status == HTTP_404_NOT_FOUND else f"http_{status}"
    structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        response = error_response(status, code, exc.detail or "no such route")
        response.headers.update(exc.headers or {})  # a 405's Allow (RFC 9110)
        response.headers["x-request-id"] = request_id
        response.headers["server-timing"] = "app;dur=0.0"  # as its log line and metric: routing only
        log.info(
            "request",
            status=status,
            method=request.method,
            path=request.url.path,
            route=UNMATCHED_ROUTE,
            duration_ms=0.0,
        )
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.observe_request(UNMATCHED_ROUTE, request.method, status, 0.0)
        return response
    finally:
        structlog.contextvars.clear_contextvars()


def handle_unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log.error("unhandled_error", exc_info=exc)
    return error_response(
        HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "internal error; quote the request id"
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    AisleError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
