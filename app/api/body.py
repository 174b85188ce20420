"""Request bodies, for every route: a size limit per route class, a JSON nesting-depth limit and
strict, typed decoding, all in `AisleRequest` (the app's `request_class`), so a route added later
gets them without doing anything.

- Size: `Settings.max_body_bytes`, or `max_write_body_bytes` for a route whose handler says
  `opt={"body": "write"}` (catalog writes); over it is a 413 before the body is read, when
  Content-Length says so, or as soon as the streamed bytes pass it.
- Depth: a body nested deeper than `Settings.max_json_depth` is a 400 before any decoder sees it
  (msgspec decoding into an untyped value recurses once per level and hit RecursionError, a 500).
- Strict types: the body is decoded by msgspec straight into the handler's declared type with
  `strict=True` (litestar converts leniently, so `"limit": "5"` passed as 5), and a schema
  violation's path is the body's own (`$.filters.price_min`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
from litestar import Request
from litestar.exceptions import ClientException, ValidationException
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_413_REQUEST_ENTITY_TOO_LARGE
from litestar.types import Empty

# A JSON string, escapes included: what brackets inside strings are hidden in.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = np.frombuffer(b"[{", dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """What `AisleRequest` enforces; built from Settings in `create_app`."""

    max_bytes: int = 256 * 1024
    max_write_bytes: int = 1024 * 1024
    max_depth: int = 32

    def bytes_for(self, body_class: object) -> int:
        return self.max_write_bytes if body_class == "write" else self.max_bytes


DEFAULT_LIMITS = BodyLimits()


class BodyRejected(ClientException):
    """A body refused before decoding; `error` is the error code the client sees."""

    def __init__(self, status_code: int, error: str, detail: str) -> None:
        super().__init__(detail=detail, status_code=status_code)
        self.error = error


def json_depth(body: bytes, limit: int) -> int:
    """The deepest nesting of arrays and objects in `body` (0 when it cannot exceed `limit`).

    Linear and in C (regex, translate, numpy): brackets inside strings are dropped, the rest
    become +1/-1 steps whose running sum is the depth. A body with at most `limit` opening
    brackets in all cannot be deeper, so ordinary bodies skip the scan."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return 0
    brackets = np.frombuffer(_STRING.sub(b"", body).translate(None, _NOT_BRACKET), dtype=np.uint8)
    if brackets.size == 0:
        return 0
    steps = np.where(np.isin(brackets, _OPENERS), 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max())


def _too_large(limit: int) -> BodyRejected:
    return BodyRejected(
        HTTP_413_REQUEST_ENTITY_TOO_LARGE, "body_too_large", f"request body exceeds {limit} bytes"
    )


class AisleRequest(Request[Any, Any, Any]):
    """Litestar's Request with the limits above; litestar's json extractor calls `json()`."""

    def _limits(self) -> BodyLimits:
        limits = getattr(self.app.state, "body_limits", None)
        return limits if isinstance(limits, BodyLimits) else DEFAULT_LIMITS

    async def body(self) -> bytes:
        if self._body is Empty and self._connection_state.body is Empty:
            limit = self._limits().bytes_for(self.route_handler.opt.get("body"))
            declared = self.content_length
            if declared is not None and declared > limit:
                raise _too_large(limit)
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
            self._body = self._connection_state.body = b"".join(chunks)
        return await super().body()

    async def checked_body(self) -> bytes:
        """The body within the size and nesting limits, not decoded: for a route that decodes it
        itself (catalog rows: NDJSON, or a JSON array read row by row)."""
        body = await self.body()
        max_depth = self._limits().max_depth
        if json_depth(body, max_depth) > max_depth:
            raise BodyRejected(
                HTTP_400_BAD_REQUEST,
                "too_deeply_nested",
                f"request body is nested deeper than {max_depth} levels of arrays and objects",
            )
        return body

    async def json(self) -> Any:
        body = await self.checked_body()
        data_field = self.route_handler.parsed_data_field
        if data_field is None:
            return await super().json()
        try:
            return msgspec.json.decode(body, type=data_field.annotation, strict=True)
        except msgspec.DecodeError as e:  # ValidationError included; app/api/errors.py splits them
            raise ValidationException(str(e)) from e
