"""What both clients share: resolved options, the headers of a request, the deadline of a call,
and turning a response into a value or an error. No I/O here."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from aisle.client._retry import Retries
from aisle.client._trace import inject
from aisle.client.call import Call
from aisle.client.errors import AisleError, Timeout, error_for

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:8000"
USER_AGENT = "aisle-python"


@dataclass(frozen=True, slots=True)
class Options:
    base_url: str
    api_key: str | None = field(repr=False)  # a secret: never in a repr, a log line or an error
    timeout_s: float  # one attempt (connect, each read)
    total_timeout_s: float  # the whole call, retries and waits included
    retries: Retries
    headers: Mapping[str, str]

    @classmethod
    def resolve(
        cls,
        base_url: str | None,
        api_key: str | None,
        *,
        timeout: float,
        total_timeout: float,
        retries: Retries,
        headers: Mapping[str, str] | None,
        env: Mapping[str, str] = os.environ,
    ) -> Options:
        """Arguments first, then AISLE_URL / AISLE_API_KEY, then the local default."""
        if timeout <= 0 or total_timeout <= 0 or retries.max_retries < 0:
            raise ValueError("timeout and total_timeout must be positive, max_retries at least 0")
        return cls(
            base_url=(base_url or env.get("AISLE_URL") or DEFAULT_URL).rstrip("/"),
            api_key=api_key or env.get("AISLE_API_KEY") or None,
            timeout_s=timeout,
            total_timeout_s=total_timeout,
            retries=retries,
            headers=dict(headers or {}),
        )

    def request_headers(
        self, call: Call[Any], *, stream: bool = False, api_key: str | None = None
    ) -> dict[str, str]:
        # A stream's Accept (text/event-stream) is httpx-sse's to set.
        headers = (
            {"user-agent": USER_AGENT} if stream else {"accept": "application/json", "user-agent": USER_AGENT}
        )
        headers.update(self.headers)
        key = api_key or self.api_key
        if key:
            headers["authorization"] = f"Bearer {key}"
        if call.body is not None:
            headers["content-type"] = "application/json"
        inject(headers)  # traceparent of the current span, when opentelemetry is there
        return headers

    def deadline(self, call: Call[Any]) -> float:
        """When the call gives up: `total_timeout` from now, or a slow call's own timeout if longer."""
        return time.monotonic() + max(self.total_timeout_s, call.timeout_s or 0.0)

    def attempt_timeout(self, deadline: float, call: Call[Any]) -> float:
        """This attempt's httpx timeout: the client's `timeout` (a catalog write's own, when that is
        longer), never past the call's deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            total = max(self.total_timeout_s, call.timeout_s or 0.0)
            raise Timeout(f"gave up after {total:g} s (total_timeout)")
        return min(max(self.timeout_s, call.timeout_s or 0.0), remaining)


def decoded(call: Call[T], status: int, content: bytes) -> T:
    try:
        return call.decode(content)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise AisleError(f"unexpected response to {call.method} {call.path}: {e}", status=status) from e


def failure(status: int, content: bytes, headers: Mapping[str, str]) -> AisleError:
    return error_for(status, content, headers.get("retry-after"))
