"""The API's error body (`{error, message, field, request_id}`) as exceptions, one per status.

`error_for` is the one table, the client's mirror of the server's (app/api/errors.py): a status
becomes its exception; a body that is not Aisle's (a proxy's HTML page) still gives a readable one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import httpx
import msgspec

from aisle.client._wire import ErrorBody


class AisleError(Exception):
    """Base of every error the client raises. `status` is None when no response came back."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        field: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code  # the body's `error`: "not_found", "invalid_request", ...
        self.field = field
        self.request_id = request_id  # quote it when reporting a problem: it is in the server's log line
        self.retry_after = retry_after  # seconds, from Retry-After

    def __str__(self) -> str:
        where = f" (request {self.request_id})" if self.request_id else ""
        return f"{self.message}{where}"


class NetworkError(AisleError):
    """No usable response: the connection failed, timed out, or a stream ended early."""


class ConnectFailed(NetworkError):
    """The connection could not be made: nothing was sent."""


class Timeout(NetworkError):
    """The request (or the whole call, retries included) ran out of time."""


class BadRequest(AisleError):
    """400: the body was not valid JSON, or nested too deeply."""


class Unauthorized(AisleError):
    """401: no API key, or one the server does not know (or that was revoked)."""


class Forbidden(AisleError):
    """403: the key lacks the scope this route needs."""


class NotFound(AisleError):
    """404: no such catalog (or one the key is not bound to), product, key or route."""


class Conflict(AisleError):
    """409: the resource already exists, or the index is incompatible."""


class PayloadTooLarge(AisleError):
    """413: the body is over the route's size limit."""


class Invalid(AisleError):
    """422: the body breaks the schema or a rule; `field` names where (e.g. "filters.price_min")."""


class RateLimited(AisleError):
    """429: over the key's rate limit; `retry_after` says when to try again."""


class ServerError(AisleError):
    """5xx: the server failed; quote `request_id`."""


class Unavailable(ServerError):
    """503 (and a proxy's 502/504): overloaded or a dependency is down; `retry_after` if known."""


_BY_STATUS: Mapping[int, type[AisleError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: Invalid,
    429: RateLimited,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}
_BODY = msgspec.json.Decoder(ErrorBody)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds (the server sends whole seconds); an HTTP date or junk is ignored."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def error_for(status: int, content: bytes, retry_after: str | None = None) -> AisleError:
    """The exception for a response that was not a success."""
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else AisleError)
    try:
        body = _BODY.decode(content)
    except msgspec.DecodeError:
        text = content[:200].decode("utf-8", "replace").strip()
        message = f"HTTP {status}: {text or 'no body'}"
        return kind(message, status=status, retry_after=retry_after_seconds(retry_after))
    return kind(
        body.message,
        status=status,
        code=body.error,
        field=body.field,
        request_id=body.request_id,
        retry_after=retry_after_seconds(retry_after),
    )


def network_error(exc: Exception) -> NetworkError:
    """httpx's transport failure as ours (the original is the cause)."""
    kind: type[NetworkError] = NetworkError
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        kind = ConnectFailed
    elif isinstance(exc, httpx.TimeoutException):
        kind = Timeout
    error = kind(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    error.__cause__ = exc
    return error
