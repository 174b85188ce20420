"""Give freed heap memory back to the OS after a large transient build (glibc only; a no-op
elsewhere).

The learned ranker's catalog statistics are built from every product and vector of a catalog in a
worker thread; once built, most of that memory is free but stays in the process (glibc keeps
freed chunks in the thread's arena): on the full Icecat catalog RSS stayed ~100 MB higher until
`malloc_trim(0)` (docs/performance.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None
    return trim


def trim_heap() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
