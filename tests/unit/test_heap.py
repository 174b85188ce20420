"""trim_heap is safe to call anywhere: glibc's malloc_trim, or nothing."""

from __future__ import annotations

from app.heap import trim_heap


def test_trim_heap_can_be_called_repeatedly() -> None:
    trim_heap()
    trim_heap()
