from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from tests.fakes import HashingEmbedder, InMemoryVectorIndex


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def memory_index() -> InMemoryVectorIndex:
    return InMemoryVectorIndex()


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    root = logging.getLogger()  # the handler app.log.configure_logging installs
    for handler in [h for h in root.handlers if h.get_name() == "aisle-json"]:
        root.removeHandler(handler)
