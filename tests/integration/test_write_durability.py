"""Acknowledged means durable: a real `aisle serve` (real model, Qdrant Edge, SQLite store),
acknowledged writes, `kill -9` right after the acknowledgement, a restart, and every acknowledged
change is there. Killed at three moments: right after a create and a bulk upsert; right after a
patch, product deletes and a catalog delete; in the middle of a large upsert (what was not
acknowledged may be lost, what was may not). Four starts of a real server: about a minute."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from app.adapters.sqlite_store import SQLiteControlStore

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data/sample/icecat-sample.jsonl"
ADMIN = "durability-admin-secret-0123456789abcdef"
NDJSON = {"content-type": "application/x-ndjson"}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rows(start: int, count: int) -> list[dict[str, Any]]:
    with SAMPLE.open() as f:
        rows = [json.loads(line) for line in f]
    return rows[start : start + count]


def _ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"\n".join(json.dumps(r).encode() for r in rows)


class Server:
    """One `aisle serve` on a data directory, started again after each kill."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=120
        )

    def start(self) -> None:
        env = {
            **os.environ,
            "AISLE_DATA_DIR": str(self.data_dir),
            "PORT": str(self.port),
            "AISLE_ADMIN_KEY": ADMIN,
            "AISLE_LOG_LEVEL": "warning",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        for name in ("QDRANT_URL", "AISLE_AUTH", "AISLE_DATABASE_URL", "REDIS_URL"):
            env.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 180
        while True:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode() if self.process.stderr else ""
                pytest.fail(f"aisle serve exited: {stderr[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "aisle serve did not become ready"
            time.sleep(0.3)

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def restart_after_kill9(self) -> None:
        self.kill9()
        self.start()

    def wait_in_flight(self) -> None:
        """Until the server is handling a catalog write (counted in the write pool's gauge)."""
        deadline = time.monotonic() + 30
        while "aisle_http_write_in_flight 1.0" not in httpx.get(f"{self.url}/metrics", timeout=5).text:
            assert time.monotonic() < deadline, "the request never reached the server"
            time.sleep(0.05)

    def count(self, catalog: str = "shop") -> int | None:
        listed = self.client.get("/v1/catalogs").json()["catalogs"]
        return next((c["product_count"] for c in listed if c["name"] == catalog), None)

    def upsert(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        response = self.client.post("/v1/catalogs/shop/products", content=_ndjson(rows), headers=NDJSON)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path)
    s.start()
    try:
        yield s
    finally:
        if s.process is not None and s.process.poll() is None:
            s.process.kill()
            s.process.wait(30)
        s.client.close()


def _catalog_settings(data_dir: Path, catalog: str) -> object:
    async def read() -> object:
        store = SQLiteControlStore(data_dir / "control.db")
        try:
            return await store.get_catalog(catalog)
        finally:
            await store.close()

    return anyio.run(read)


def test_every_acknowledged_write_survives_kill_9(server: Server) -> None:
    first = _rows(0, 120)
    ids = [str(r["id"]) for r in first]

    # 1. Creates and a bulk upsert, killed right after the upsert's acknowledgement.
    assert server.client.post("/v1/catalogs/old").status_code == 201
    assert server.client.post("/v1/catalogs/shop").status_code == 201
    assert server.upsert(first)["created"] == 120
    server.restart_after_kill9()
    assert (server.count(), server.count("old")) == (120, 0)
    again = server.upsert(first)  # the stored content hashes survived too
    assert (again["unchanged"], again["embedded"]) == (120, 0)

    # 2. A patch, product deletes and a catalog delete, killed right after the last acknowledgement.
    patched = server.client.patch(
        f"/v1/catalogs/shop/products/{ids[0]}", json={"price": 1.25, "in_stock": False}
    )
    assert patched.status_code == 200, patched.text
    assert server.client.delete(f"/v1/catalogs/shop/products/{ids[1]}").status_code == 204
    listed = server.client.post("/v1/catalogs/shop/products/delete", json={"ids": ids[2:4]})
    assert listed.json()["deleted"] == ids[2:4]
    assert server.client.delete("/v1/catalogs/old").status_code == 204
    server.kill9()
    assert _catalog_settings(server.data_dir, "old") is None
    assert _catalog_settings(server.data_dir, "shop") is not None
    server.start()
    product = server.client.get(f"/v1/catalogs/shop/products/{ids[0]}").json()
    assert (product["price"], product["in_stock"]) == (1.25, False)
    for gone in ids[1:4]:
        assert server.client.get(f"/v1/catalogs/shop/products/{gone}").status_code == 404
    assert (server.count(), server.count("old")) == (117, None)
    assert server.client.post("/v1/catalogs/old/search", json={"query": "cable"}).status_code == 404
    found = server.client.post(
        "/v1/catalogs/shop/search", json={"query": product["title"], "filters": {"in_stock": False}}
    )
    assert ids[0] in [i["id"] for i in found.json()["items"]]  # and searchable as patched

    # 3. Killed in the middle of a large upsert: the batch before it was acknowledged and stays;
    # the one in flight may be lost in part or in full, never half-written.
    acknowledged, in_flight = _rows(120, 150), _rows(270, 500)
    assert server.upsert(acknowledged)["created"] == 150
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            outcome["response"] = server.client.post(
                "/v1/catalogs/shop/products", content=_ndjson(in_flight), headers=NDJSON
            )
        except httpx.TransportError as e:
            outcome["error"] = e

    sender = threading.Thread(target=send)
    sender.start()
    server.wait_in_flight()
    time.sleep(0.3)  # into the batch: embedding 500 products on one thread takes seconds
    server.kill9()
    sender.join(30)
    assert "response" not in outcome, "the in-flight batch finished before the kill: no mid-batch kill"
    server.start()
    count = server.count()
    assert count is not None
    assert count >= 117 + 150
    assert server.upsert(acknowledged)["unchanged"] == 150
    redo = server.upsert(in_flight)  # whatever landed is whole: created or unchanged, never an error
    assert redo["errors"] == 0
    assert redo["created"] + redo["unchanged"] == 500
