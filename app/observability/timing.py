"""Stage timings: milliseconds since a `time.perf_counter()` reading, what every use case reports."""

from __future__ import annotations

import time


def elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
