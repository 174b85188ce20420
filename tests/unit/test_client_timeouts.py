"""The typed client's timeouts, over httpx's mock transport: a catalog write (bulk upsert, bulk
delete, full sync, catalog delete) gets the write attempt timeout (300 s, as `aisle ingest
--server`), not the 30 s default, since the server commits a write the client stopped waiting for;
other calls keep the client's. Read from the timeout httpx hands the transport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from aisle.client import Aisle, AsyncAisle, Product
from aisle.client.call import WRITE_TIMEOUT_S, request
from tests.unit.test_client_writes import SYNCED, UPSERT

BASE = "http://aisle.test"


class Timeouts:
    """Answers every request with `answer`, noting each request's read timeout."""

    def __init__(self, status: int, answer: Any) -> None:
        self.status, self.answer = status, answer
        self.read: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.read.append(request.extensions["timeout"]["read"])
        if self.answer is None:
            return httpx.Response(self.status)
        return httpx.Response(self.status, json=self.answer)


WRITES: list[tuple[Callable[[Aisle], Any], int, Any]] = [
    (lambda a: a.upsert_products("c", [Product(id="p", title="t")]), 200, UPSERT),
    (lambda a: a.delete_products("c", ["p"]), 200, {"deleted": ["p"], "not_found": []}),
    (lambda a: a.sync("c", ["p"]), 200, SYNCED),
    (lambda a: a.delete_catalog("c"), 204, None),
]


@pytest.mark.parametrize(("call", "status", "answer"), WRITES)
def test_catalog_writes_wait_longer_than_the_default_attempt_timeout(
    call: Callable[[Aisle], Any], status: int, answer: Any
) -> None:
    script = Timeouts(status, answer)
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(script))
    call(Aisle(api_key="k", http_client=http))  # timeout=30, total_timeout=60: the defaults
    assert WRITE_TIMEOUT_S - 5 < script.read[0] <= WRITE_TIMEOUT_S


def test_a_client_timeout_longer_than_the_write_timeout_is_kept_and_reads_keep_the_default() -> None:
    script = Timeouts(200, UPSERT)
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(script))
    Aisle(api_key="k", http_client=http, timeout=900, total_timeout=900).upsert_products(
        "c", [Product(id="p", title="t")]
    )
    assert script.read[0] > WRITE_TIMEOUT_S
    reads = Timeouts(200, {"ok": True})
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(reads))
    Aisle(api_key="k", http_client=http).send(request("GET", "/v1/catalogs"))
    assert reads.read[0] <= 30.0


async def test_the_async_client_gives_writes_the_same_timeout() -> None:
    script = Timeouts(200, UPSERT)
    http = httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(script))
    async with AsyncAisle(api_key="k", http_client=http) as aisle:
        await aisle.upsert_products("c", [Product(id="p", title="t")])
    assert WRITE_TIMEOUT_S - 5 < script.read[0] <= WRITE_TIMEOUT_S
