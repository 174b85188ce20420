"""`aisle ingest FILE --server URL`: a file pushed to a running server's write API (a real
uvicorn server on the fakes, auth on), with its summary, exit codes and the full sync's guards
over the server; retries and batch splitting against a scripted transport; and a local ingest
into a shard a running process holds failing fast with exit 4."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from app.adapters.edge_index import EdgeVectorIndex
from app.adapters.memory_store import MemoryControlStore
from app.auth.admin import KeyAdmin
from app.auth.principal import Principal
from app.cli import main
from app.cli_push import (
    EXIT_SERVER,
    EXIT_SHARD_HELD,
    EXIT_SYNC_REFUSED,
    PushOptions,
    push,
)
from app.domain.models import Product
from app.main import Deps, create_app
from app.settings import Settings
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ADMIN = "push-admin-secret-0123456789abcdefghij"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Live:
    def __init__(self, url: str, index: InMemoryVectorIndex, store: MemoryControlStore) -> None:
        self.url = url
        self.index = index
        self.store = store

    def ids(self, catalog: str = "shop") -> set[str]:
        return set(asyncio.run(self.index.fingerprints(catalog)))

    def key(self, scopes: list[str], catalogs: list[str] | None) -> str:
        return asyncio.run(KeyAdmin(self.store).create(Principal.root("t"), "k", scopes, catalogs)).token


@pytest.fixture
def live() -> Iterator[Live]:
    index, store = InMemoryVectorIndex(), MemoryControlStore()
    app = create_app(
        Settings(auth=True, admin_key=ADMIN, rate_limit_rps=0.0),
        Deps(HashingEmbedder(), index, store=store),
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    yield Live(url, index, store)
    server.should_exit = True
    thread.join(10)


def _file(path: Path, rows: list[dict[str, Any] | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _products(n: int) -> list[dict[str, Any]]:
    return [{"id": f"p{i}", "title": f"product number {i}", "price": float(i)} for i in range(n)]


def test_a_file_pushed_to_a_server_is_written_and_pushing_it_again_changes_nothing(
    tmp_path: Path, live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = _file(tmp_path / "shop.jsonl", [*_products(12), {"id": "bad", "title": ""}])
    args = ["ingest", str(catalog), "--catalog", "shop", "--server", live.url, "--batch-size", "5"]
    assert main([*args, "--api-key", ADMIN]) == 1  # one row failed; the catalog was created
    out, err = capsys.readouterr()
    assert "added=12 updated=0 unchanged=0 deleted=0 failed=1" in out
    assert f"{catalog}:13 id=bad" in err  # the reader names the line
    assert live.ids() == {f"p{i}" for i in range(12)}
    catalog.write_text("".join(json.dumps(r) + "\n" for r in _products(12)))
    writer = live.key(["write"], ["shop"])  # a write key is enough once the catalog exists
    assert main([*args, "--api-key", writer]) == 0
    assert "added=0 updated=0 unchanged=12" in capsys.readouterr().out


def test_a_full_sync_over_the_server_keeps_the_local_guards(
    tmp_path: Path, live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    full = _file(tmp_path / "full.jsonl", _products(10))
    base = ["--catalog", "shop", "--server", live.url, "--api-key", ADMIN]
    assert main(["ingest", str(full), *base]) == 0
    capsys.readouterr()
    part = _file(tmp_path / "part.jsonl", [*_products(5), {"id": "new", "title": "a new product"}])
    sync = ["ingest", str(part), *base, "--full-sync"]
    assert main(sync) == EXIT_SYNC_REFUSED  # 5 of 10 is over the 20 % allowed
    assert "refused by the server, nothing deleted" in capsys.readouterr().err
    assert live.ids() == {f"p{i}" for i in range(10)}  # refused before anything was written
    assert main([*sync, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would add: new" in out
    assert "would delete: p9" in out
    assert live.ids() == {f"p{i}" for i in range(10)}
    broken = _file(tmp_path / "broken.jsonl", [*_products(5), "{oops"])
    assert main(["ingest", str(broken), *base, "--full-sync", "--force"]) == 1
    assert "full sync deleted nothing: 1 row(s) failed" in capsys.readouterr().out
    assert len(live.ids()) == 10
    assert main([*sync, "--max-delete-fraction", "0.5"]) == 0
    assert "added=1 updated=0 unchanged=5 deleted=5 failed=0" in capsys.readouterr().out
    assert live.ids() == {*(f"p{i}" for i in range(5)), "new"}


def test_a_refused_push_exits_5_saying_why(
    tmp_path: Path, live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = _file(tmp_path / "shop.jsonl", _products(3))
    args = ["ingest", str(catalog), "--catalog", "shop", "--server", live.url]
    assert main(args) == EXIT_SERVER
    err = capsys.readouterr().err
    assert "401" in err
    assert "AISLE_API_KEY" in err
    writer = live.key(["write"], ["shop"])
    assert main([*args, "--api-key", writer]) == EXIT_SERVER  # no catalog, and no admin scope to create it
    assert "creating it failed" in capsys.readouterr().err
    dead = f"http://127.0.0.1:{_free_port()}"
    options = PushOptions(server=dead, catalog="shop", api_key=ADMIN, attempts=2)
    with httpx.Client(base_url=dead) as client, pytest.raises(Exception, match="gave up after 2 attempts"):
        push([("row 1", Product(id="a", title="a"))], options, client, sleep=lambda _s: None)


def test_retries_honour_retry_after_and_a_413_splits_the_batch() -> None:
    script = iter(
        [
            httpx.Response(429, headers={"retry-after": "7"}, json={"error": "rate_limited"}),
            httpx.Response(503, json={"error": "overloaded"}),
            httpx.ConnectError("refused"),
        ]
    )
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        step = next(script, None)
        if isinstance(step, Exception):
            raise step
        if step is not None:
            return step
        lines = request.content.strip().split(b"\n")
        if len(request.content) > 300:  # two rows fit, four do not
            return httpx.Response(413, json={"error": "body_too_large"})
        seen.append(len(lines))
        results = [
            {"line": n, "id": json.loads(line)["id"], "result": "created"} for n, line in enumerate(lines, 1)
        ]
        return httpx.Response(200, json={"results": results, "embedded": len(lines)})

    waits: list[float] = []
    products = [(f"row {i}", Product(id=f"p{i}", title=f"product {i}")) for i in range(4)]
    with httpx.Client(base_url="http://server", transport=httpx.MockTransport(handler)) as client:
        summary = push(
            products, PushOptions(server="http://server", catalog="shop"), client, sleep=waits.append
        )
    assert waits == [7.0, 1.0, 2.0]  # Retry-After, then exponential backoff
    assert summary.retries == 3
    assert summary.counts["created"] == 4
    assert sum(seen) == 4
    assert max(seen) < 4  # the batch of 4 was split until each part fit


HOLDER = """
import asyncio, sys
from pathlib import Path
from app.adapters.edge_index import EdgeVectorIndex
index = EdgeVectorIndex(Path(sys.argv[1]))
asyncio.run(index.fingerprints("shop"))
print("holding", flush=True)
sys.stdin.readline()
"""


def test_a_local_ingest_into_a_shard_a_server_holds_exits_4_and_says_how_to_push(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "var"
    first = EdgeVectorIndex(data)
    asyncio.run(first.ensure_catalog("shop", 384))
    asyncio.run(first.close())
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        monkeypatch.setenv("AISLE_DATA_DIR", str(data))
        catalog = _file(tmp_path / "shop.jsonl", _products(2))
        started = time.monotonic()
        assert main(["ingest", str(catalog), "--catalog", "shop"]) == EXIT_SHARD_HELD
        assert time.monotonic() - started < 10  # before any model is loaded
        err = capsys.readouterr().err
        assert "held by a running server" in err
        assert "--server" in err
    finally:
        holder.kill()
        holder.wait()
