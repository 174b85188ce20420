"""W3C trace context on outgoing requests, when opentelemetry-api is installed (optional).

The current context's `traceparent` (and `tracestate`, baggage: whatever the configured
propagators write) goes on every request, so the server's span is a child of the caller's. Without
opentelemetry, or with no span current, nothing is added. Imported lazily: `import aisle.client`
stays light.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, MutableMapping


@functools.cache
def _injector() -> Callable[[MutableMapping[str, str]], None] | None:
    try:
        from opentelemetry import propagate
    except ImportError:  # the client does not need it
        return None
    return propagate.inject


def inject(headers: MutableMapping[str, str]) -> None:
    injector = _injector()
    if injector is not None:
        injector(headers)
