"""The integration guide's example client works against the real app (fakes behind it)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from aisle.client import Aisle, Message
from app.main import Deps, create_app
from app.settings import Settings
from embeddings.ingest import ingest
from tests.assistant_catalog import SHOP
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "assistant_client.py"


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("assistant_client", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["assistant_client"] = module
    spec.loader.exec_module(module)
    return module


def test_the_example_client_streams_a_two_turn_conversation() -> None:
    example = load_example()
    index = InMemoryVectorIndex()
    asyncio.run(ingest(SHOP, "shop", HashingEmbedder(), index, model_id="m"))
    printed: list[str] = []

    def out(*parts: object, end: str = "\n", **_: object) -> None:  # print()'s signature
        printed.append(" ".join(str(p) for p in parts) + end)

    with (
        TestClient(create_app(Settings(), Deps(embedder=HashingEmbedder(), index=index))) as client,
        Aisle(http_client=client) as aisle,
    ):
        messages = [Message("user", "bluetooth speakers")]
        first = example.ask(aisle, "shop", messages, out=out).result
        messages += [Message("assistant", first.reply), Message("user", "under $45")]
        second = example.ask(aisle, "shop", messages, out=out).result
    assert first.items
    assert all(i.price is not None and i.price <= 45 for i in second.items)
    assert any("•" in line for line in printed)
    assert second.reply in "".join(printed)
