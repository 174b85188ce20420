"""One API call as a value: method, path, body, how to decode the answer, whether a retry is safe.

Routes (aisle/client/routes.py) build `Call`s; the sync and async clients send them (`send`), so a
route is written once for both. `get`, `post`, `put`, `patch` and `delete` are the generic helpers: a route
the client has no method for yet is `client.send(post("/v1/...", body, ResponseType))`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import msgspec

T = TypeVar("T")
# A catalog write's attempt: a bulk upsert of 1,000 rows took 60-112 s under load, and the server
# commits it whether or not the client still waits; `aisle ingest --server` allows the same 300 s.
WRITE_TIMEOUT_S = 300.0
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    decode: Callable[[bytes], T]
    body: Any = None  # a Struct (or any JSON value); None: no body
    retry_safe: bool = False  # repeating it cannot change anything twice
    # This call's attempt timeout when longer than the client's `timeout` (a catalog write); the
    # call's whole timeout is then at least this too. None: the client's.
    timeout_s: float | None = None

    def content(self) -> bytes | None:
        return None if self.body is None else msgspec.json.encode(self.body)


def decoder(kind: type[T]) -> Callable[[bytes], T]:
    """Strict typed decoding of a response body (unknown fields are ignored: forward compatible)."""
    return msgspec.json.Decoder(kind).decode


def _nothing(_: bytes) -> None:
    return None


def segment(value: str) -> str:
    """A path parameter, percent-encoded (an id may hold spaces, `?` or `#`)."""
    return quote(value, safe="")


def get(path: str, response: type[T] | Callable[[bytes], T]) -> Call[T]:
    return Call("GET", path, _decode(response), retry_safe=True)


def post(
    path: str,
    body: Any,
    response: type[T] | Callable[[bytes], T],
    *,
    read_only: bool = False,
    idempotent: bool = False,
    timeout_s: float | None = None,
) -> Call[T]:
    """`read_only`: the route only reads (search, similar, bundles); `idempotent`: the route writes,
    but doing it twice leaves what doing it once does (an upsert by id). Either: a retry is safe.
    `timeout_s`: a longer attempt timeout for this call (Call.timeout_s)."""
    return Call("POST", path, _decode(response), body, read_only or idempotent, timeout_s)


def put(path: str, body: Any, response: type[T] | Callable[[bytes], T]) -> Call[T]:
    return Call("PUT", path, _decode(response), body, retry_safe=True)


def patch(path: str, body: Any, response: type[T] | Callable[[bytes], T]) -> Call[T]:
    """A PATCH that sets fields to values (not a relative change): idempotent, so retried."""
    return Call("PATCH", path, _decode(response), body, retry_safe=True)


def delete(path: str, *, timeout_s: float | None = None) -> Call[None]:
    return Call("DELETE", path, _nothing, retry_safe=True, timeout_s=timeout_s)


def _decode(response: type[T] | Callable[[bytes], T]) -> Callable[[bytes], T]:
    if isinstance(response, type):
        return decoder(response)
    return response


def request(method: str, path: str, body: Any = None, *, retry_safe: bool | None = None) -> Call[Any]:
    """An untyped call, its answer as plain JSON: for a route the client has no method for yet.
    `retry_safe` defaults to whether the method is idempotent."""
    safe = method.upper() in _IDEMPOTENT if retry_safe is None else retry_safe
    return Call(method.upper(), path, _json, body, safe)


def _json(raw: bytes) -> Any:
    return msgspec.json.decode(raw) if raw else None
