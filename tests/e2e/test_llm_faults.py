"""The LLM fault matrix through the real OpenAI adapter and the HTTP API, with respx faking only
the upstream HTTP. Every fault must give a 200 with the vector order and the right fallback reason,
and the LLM time the response reports must stay within the deadline (judged by the reported
timing, with room for a loaded machine, not by the test's own wall clock)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
from litestar.testing import TestClient

from app.adapters.memory_cache import MemoryCache
from app.adapters.openai_llm_client import OpenAILLMClient
from app.adapters.redis_cache import RedisCache
from app.domain.models import Product
from app.main import Deps, create_app
from app.settings import Settings
from embeddings.ingest import ingest
from tests.fakes import HashingEmbedder, InMemoryVectorIndex, chat_completion

pytestmark = pytest.mark.e2e

LLM_URL = "http://llm.test/v1"
DEADLINE_MS = 400
PRODUCTS = [
    Product(id=f"s{i}", title=f"bluetooth speaker model {i}", brand="JBL", price=20.0 + i) for i in range(6)
]
SEARCH = {"query": "bluetooth speaker", "limit": 4, "rerank": "llm"}


def ok(content: str | None, refusal: str | None = None) -> httpx.Response:
    return httpx.Response(200, json=chat_completion(content, refusal))


def ranking(*ids: str) -> httpx.Response:
    return ok(json.dumps({"ranking": list(ids)}))


def make_app(cache: Any = None, **settings: Any) -> Any:
    index = InMemoryVectorIndex()
    embedder = HashingEmbedder()
    asyncio.run(ingest(PRODUCTS, "shop", embedder, index, model_id="m"))
    llm = OpenAILLMClient(LLM_URL, "sk-test-secret", "tiny")
    config = Settings(
        **{"llm_deadline_ms": DEADLINE_MS, "llm_base_url": LLM_URL, "llm_model": "tiny", **settings}
    )
    return create_app(config, Deps(embedder=embedder, index=index, llm=llm, cache=cache or MemoryCache()))


@pytest.fixture
def client() -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(make_app()) as client:
        yield client


def vector_order(client: TestClient) -> list[str]:  # type: ignore[type-arg]
    body = client.post("/v1/catalogs/shop/search", json={**SEARCH, "rerank": "none"}).json()
    return [i["id"] for i in body["items"]]


async def _slow(_request: httpx.Request) -> httpx.Response:
    await asyncio.sleep(2.0)
    return ranking("s1")


FAULTS: list[tuple[str, Callable[[respx.Route], None], str]] = [
    (
        "connect refused",
        lambda r: setattr(r, "side_effect", httpx.ConnectError("refused")),
        "connection_error",
    ),
    ("read timeout", lambda r: setattr(r, "side_effect", httpx.ReadTimeout("read timed out")), "timeout"),
    ("slow response past the deadline", lambda r: setattr(r, "side_effect", _slow), "timeout"),
    (
        "429 with Retry-After beyond the deadline",
        lambda r: setattr(r, "return_value", httpx.Response(429, headers={"retry-after": "30"}, json={})),
        "rate_limited",
    ),
    (
        "429 without Retry-After",
        lambda r: setattr(r, "return_value", httpx.Response(429, json={})),
        "rate_limited",
    ),
    ("500", lambda r: setattr(r, "return_value", httpx.Response(500, json={})), "server_error"),
    ("503", lambda r: setattr(r, "return_value", httpx.Response(503, json={})), "server_error"),
    ("400 rejected", lambda r: setattr(r, "return_value", httpx.Response(400, json={})), "rejected"),
    ("malformed JSON", lambda r: setattr(r, "return_value", ok('{"ranking": ["s1", ')), "invalid_output"),
    (
        "prose instead of JSON",
        lambda r: setattr(r, "return_value", ok("The best speaker is the JBL one.")),
        "invalid_output",
    ),
    ("invented ids", lambda r: setattr(r, "return_value", ranking("x9", "y7")), "invalid_output"),
    (
        "refusal",
        lambda r: setattr(r, "return_value", ok(None, refusal="I can't help with that.")),
        "invalid_output",
    ),
    ("empty content", lambda r: setattr(r, "return_value", ok("")), "invalid_output"),
    (
        "a 200 that is not a completion",
        lambda r: setattr(r, "return_value", httpx.Response(200, text="<html>")),
        "invalid_output",
    ),
]


@pytest.mark.parametrize(("fault", "arrange", "reason"), FAULTS, ids=[f[0] for f in FAULTS])
def test_every_llm_fault_returns_the_flagged_vector_result_within_the_deadline(
    client: TestClient,
    fault: str,
    arrange: Callable[[respx.Route], None],
    reason: str,  # type: ignore[type-arg]
) -> None:
    expected = vector_order(client)
    with respx.mock(assert_all_called=False) as mock:
        arrange(mock.post(f"{LLM_URL}/chat/completions"))
        response = client.post("/v1/catalogs/shop/search", json=SEARCH)
    assert response.status_code == 200, fault
    body = response.json()
    assert body["fallback"] == {"reason": reason}
    assert body["ranking"] == "vector"
    assert [i["id"] for i in body["items"]] == expected
    assert body["timings_ms"]["llm"] < 2 * DEADLINE_MS  # the slow upstream takes 2000 ms


def test_a_partial_ranking_is_completed_in_vector_order(client: TestClient) -> None:  # type: ignore[type-arg]
    expected = vector_order(client)
    with respx.mock as mock:
        mock.post(f"{LLM_URL}/chat/completions").return_value = ranking(expected[2])
        body = client.post("/v1/catalogs/shop/search", json=SEARCH).json()
    assert body["ranking"] == "llm"
    assert body["fallback"] is None
    assert [i["id"] for i in body["items"]] == [expected[2], expected[0], expected[1], expected[3]]


def test_duplicate_ids_are_removed(client: TestClient) -> None:  # type: ignore[type-arg]
    expected = vector_order(client)
    with respx.mock as mock:
        mock.post(f"{LLM_URL}/chat/completions").return_value = ranking(expected[1], expected[1], expected[0])
        body = client.post("/v1/catalogs/shop/search", json=SEARCH).json()
    assert [i["id"] for i in body["items"]] == [expected[1], expected[0], expected[2], expected[3]]


def test_the_request_sent_upstream_is_structured_bounded_and_has_no_sdk_retries(client: TestClient) -> None:  # type: ignore[type-arg]
    with respx.mock as mock:
        route = mock.post(f"{LLM_URL}/chat/completions")
        route.return_value = httpx.Response(500, json={})
        client.post("/v1/catalogs/shop/search", json=SEARCH)
    sent = json.loads(route.calls[0].request.content)
    assert sent["response_format"]["type"] == "json_schema"
    assert set(
        sent["response_format"]["json_schema"]["schema"]["properties"]["ranking"]["items"]["enum"]
    ) == {p.id for p in PRODUCTS}
    assert sent["max_tokens"] <= 400
    assert route.calls[0].request.headers["x-stainless-retry-count"] == "0"
    assert route.call_count == 3  # our retries (max 3 attempts), none from the SDK


def test_a_cache_hit_makes_no_upstream_call_and_says_so(client: TestClient) -> None:  # type: ignore[type-arg]
    with respx.mock as mock:
        route = mock.post(f"{LLM_URL}/chat/completions")
        route.return_value = ranking("s3")
        first = client.post("/v1/catalogs/shop/search", json=SEARCH).json()
        second = client.post(
            "/v1/catalogs/shop/search", json={**SEARCH, "query": "  Bluetooth   SPEAKER "}
        ).json()
    assert (first["cache"], second["cache"]) == ("miss", "hit")
    assert route.call_count == 1
    assert second["items"][0]["id"] == "s3"


def test_explain_adds_grounded_reasons_and_keeps_the_vector_order(client: TestClient) -> None:  # type: ignore[type-arg]
    expected = vector_order(client)
    reasons = {
        "reasons": [{"id": expected[0], "reason": "A JBL Bluetooth speaker."}, {"id": "ghost", "reason": "x"}]
    }
    with respx.mock as mock:
        mock.post(f"{LLM_URL}/chat/completions").return_value = ok(json.dumps(reasons))
        body = client.post(
            "/v1/catalogs/shop/search", json={**SEARCH, "rerank": "none", "explain": True}
        ).json()
    assert [i["id"] for i in body["items"]] == expected
    assert body["items"][0]["reason"] == "A JBL Bluetooth speaker."
    assert "reason" not in body["items"][1]


def test_the_breaker_opens_after_failures_and_then_skips_the_llm() -> None:
    app = make_app(breaker_window=4, breaker_min_calls=2, breaker_open_s=60, llm_max_attempts=1)
    with TestClient(app) as client, respx.mock as mock:
        route = mock.post(f"{LLM_URL}/chat/completions")
        route.return_value = httpx.Response(503, json={})
        reasons = [
            client.post("/v1/catalogs/shop/search", json={**SEARCH, "query": f"speaker {n}"}).json()[
                "fallback"
            ]
            for n in range(4)
        ]
    assert reasons == [{"reason": "server_error"}] * 2 + [{"reason": "circuit_open"}] * 2
    assert route.call_count == 2


async def _concurrent(app: Any, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Really concurrent requests: httpx's ASGI transport runs each in its own task (litestar's
    test clients go through a blocking portal, one request at a time)."""
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://aisle.test") as client:
        responses = await asyncio.gather(*(client.post("/v1/catalogs/shop/search", json=b) for b in bodies))
    return [r.json() for r in responses]


async def _slow_ranking(_request: httpx.Request) -> httpx.Response:
    await asyncio.sleep(0.15)
    return ranking("s2")


def test_twenty_concurrent_identical_requests_make_one_upstream_call() -> None:
    # A deadline long enough never to decide it: under load, the 400 ms one failed the odd request.
    app = make_app(llm_deadline_ms=30_000)
    with respx.mock as mock:
        route = mock.post(f"{LLM_URL}/chat/completions")
        route.side_effect = _slow_ranking
        bodies = asyncio.run(_concurrent(app, [SEARCH] * 20))
    assert route.call_count == 1
    assert [b["fallback"] for b in bodies] == [None] * 20
    assert all(b["ranking"] == "llm" and b["items"][0]["id"] == "s2" for b in bodies)


def test_the_bulkhead_sheds_excess_load_as_overloaded() -> None:
    """Two calls hold the two slots until four requests have been refused: ordered by an event,
    not by how long a sleep lasts (the deadline is long enough never to decide it)."""
    app = make_app(llm_max_in_flight=2, llm_deadline_ms=30_000)

    async def scenario() -> list[str | None]:
        release = asyncio.Event()

        async def held(_request: httpx.Request) -> httpx.Response:
            await release.wait()
            return ranking("s2")

        transport = httpx.ASGITransport(app=app)
        reasons: list[str | None] = []
        async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://aisle.test") as c:
            with respx.mock as mock:
                mock.post(f"{LLM_URL}/chat/completions").side_effect = held
                bodies = [{**SEARCH, "query": f"speaker {n}"} for n in range(6)]
                for response in asyncio.as_completed(
                    [c.post("/v1/catalogs/shop/search", json=b) for b in bodies]
                ):
                    fallback = (await response).json()["fallback"]
                    reasons.append(fallback["reason"] if fallback else None)
                    if len(reasons) == 4:
                        release.set()
        return reasons

    assert asyncio.run(scenario()) == ["overloaded"] * 4 + [None] * 2


def test_redis_down_still_answers_200_from_the_local_cache() -> None:
    app = make_app(cache=RedisCache("redis://127.0.0.1:1/0"))
    with TestClient(app) as client, respx.mock as mock:
        route = mock.post(f"{LLM_URL}/chat/completions")
        route.return_value = ranking("s5")
        first = client.post("/v1/catalogs/shop/search", json=SEARCH)
        second = client.post("/v1/catalogs/shop/search", json=SEARCH)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["ranking"] == "llm"
    assert second.json()["cache"] == "hit"
    assert route.call_count == 1


def test_no_llm_configured_flags_llm_disabled_only_when_the_llm_was_asked_for() -> None:
    index = InMemoryVectorIndex()
    asyncio.run(ingest(PRODUCTS, "shop", HashingEmbedder(), index, model_id="m"))
    with TestClient(create_app(Settings(), Deps(embedder=HashingEmbedder(), index=index))) as client:
        asked = client.post("/v1/catalogs/shop/search", json=SEARCH).json()
        auto = client.post("/v1/catalogs/shop/search", json={**SEARCH, "rerank": "auto"}).json()
    assert (asked["ranking"], asked["fallback"]) == ("vector", {"reason": "llm_disabled"})
    assert (auto["ranking"], auto["fallback"]) == ("vector", None)


def test_the_api_key_never_reaches_the_logs(capsys: pytest.CaptureFixture[str]) -> None:
    from app.log import configure_logging

    configure_logging("debug", json=True)
    with TestClient(make_app()) as client, respx.mock as mock:
        mock.post(f"{LLM_URL}/chat/completions").return_value = httpx.Response(500, json={})
        client.post("/v1/catalogs/shop/search", json=SEARCH)
    out = capsys.readouterr()
    assert "sk-test-secret" not in out.out + out.err
