"""A catalog whose Edge shard another process holds (an `aisle ingest` of a new catalog running
while the server serves) must not make the instance unready: /readyz and /v1/catalogs answer
200 with the catalogs that can be served, and the held one is a 503 on its own routes only."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from litestar.testing import TestClient

from app.adapters.edge_index import EdgeVectorIndex
from app.domain.models import Product
from app.main import Deps, create_app
from app.settings import Settings
from embeddings.ingest import ingest
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import asyncio, sys, time
from pathlib import Path
from app.adapters.edge_index import EdgeVectorIndex
index = EdgeVectorIndex(Path(sys.argv[1]))
asyncio.run(index.ensure_catalog("busy", 64))
print("holding", flush=True)
sys.stdin.readline()  # until the test says so
"""


def test_a_shard_held_by_another_process_leaves_the_instance_ready(tmp_path: Path) -> None:
    served = EdgeVectorIndex(tmp_path)
    asyncio.run(ingest([Product(id="a", title="speaker")], "shop", HashingEmbedder(), served, model_id="m"))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        with TestClient(create_app(Settings(data_dir=tmp_path), Deps(HashingEmbedder(), served))) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert client.get("/v1/catalogs").json() == {"catalogs": [{"name": "shop", "product_count": 1}]}
            assert client.get("/metrics").status_code == 200
            assert "aisle_ready 1.0" in client.get("/metrics").text
            assert client.post("/v1/catalogs/shop/search", json={"query": "speaker"}).status_code == 200
            assert client.post("/v1/catalogs/busy/search", json={"query": "speaker"}).status_code == 503

            assert holder.stdin is not None
            holder.stdin.write("done\n")
            holder.stdin.flush()
            holder.wait(30)
            names = [c["name"] for c in client.get("/v1/catalogs").json()["catalogs"]]
            assert names == ["busy", "shop"]  # opened once the other process let go
    finally:
        holder.kill()
        holder.wait()
