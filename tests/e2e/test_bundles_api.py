"""Bundles and complement maps over HTTP, and the LLM composition through the real OpenAI adapter
with respx faking only the upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from litestar.testing import TestClient

from app.adapters.memory_cache import MemoryCache
from app.adapters.openai_llm_client import OpenAILLMClient
from app.main import Deps, create_app
from app.settings import Settings
from embeddings.ingest import ingest
from tests.bundle_catalog import SHOP
from tests.fakes import HashingEmbedder, InMemoryVectorIndex, chat_completion

pytestmark = pytest.mark.e2e

LLM_URL = "http://llm.test/v1"
URL = "/v1/catalogs/shop/bundles"


def make_app(tmp_path: Path, llm: bool) -> Any:
    index = InMemoryVectorIndex()
    embedder = HashingEmbedder()
    asyncio.run(ingest(SHOP, "shop", embedder, index, model_id="m"))
    client = OpenAILLMClient(LLM_URL, "sk-test", "tiny") if llm else None
    settings = Settings(
        complements_dir=tmp_path,
        llm_deadline_ms=500,
        llm_base_url=LLM_URL if llm else None,
        llm_model="tiny" if llm else None,
    )
    return create_app(settings, Deps(embedder=embedder, index=index, llm=client, cache=MemoryCache()))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(make_app(tmp_path, llm=False)) as c:
        yield c


@pytest.fixture
def llm_client(tmp_path: Path) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(make_app(tmp_path, llm=True)) as c:
        yield c


def test_a_bundle_over_http_has_anchor_slots_total_and_plan(client: TestClient) -> None:  # type: ignore[type-arg]
    body = client.post(
        URL, json={"anchor_ids": ["cam-eos"], "slots": ["batteries", "bags"], "budget": {"max_total": 120}}
    ).json()
    assert body["anchor"][0]["id"] == "cam-eos"
    assert [s["category"] for s in body["slots"]] == ["Batteries", "Bags"]
    assert body["slots"][0]["item"]["id"] == "bat-canon"
    assert body["slots"][0]["fits_anchor"] is True
    assert body["slots"][0]["reason"].startswith("Batteries to go with Canon EOS 250D")
    assert body["total_price"] == round(sum(s["item"]["price"] for s in body["slots"]), 2) <= 120
    assert body["plan"] == {"source": "request", "slots": ["batteries", "bags"]}
    assert body["ranking"] == "vector"
    assert body["fallback"] == {"reason": "llm_disabled"}
    assert {"retrieve", "plan", "candidates", "compose", "total"} <= set(body["timings_ms"])


def test_complement_maps_are_managed_through_the_api_and_used(client: TestClient) -> None:  # type: ignore[type-arg]
    assert client.get("/v1/catalogs/shop/complements").json() == {
        "merchandiser": None,
        "learned": None,
        "learned_from": None,
    }
    bad = client.put("/v1/catalogs/shop/complements", json={"complements": {"cameras": ["tents"]}})
    assert bad.status_code == 422
    assert bad.json()["field"] == "complements.cameras"
    ok = client.put("/v1/catalogs/shop/complements", json={"complements": {"Cameras": ["Memory", "Bags"]}})
    assert ok.json()["merchandiser"] == {"cameras": ["memory", "bags"]}
    body = client.post(URL, json={"anchor_ids": ["cam-eos"], "max_items": 1}).json()
    assert body["plan"] == {"source": "merchandiser", "slots": ["memory"]}
    assert client.get("/v1/catalogs/nope/complements").status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"anchor_ids": []}, 422),
        ({"anchor_ids": ["nope"], "slots": ["bags"]}, 404),
        ({"anchor_ids": ["cam-eos"], "slots": ["tents"]}, 422),
        ({"anchor_ids": ["jeans-m"]}, 422),  # no map, no default, no LLM: nothing to plan from
        ({"anchor_ids": ["cam-eos"], "slots": ["bags"], "max_items": 11}, 422),
        ({"anchor_ids": ["cam-eos"], "slots": ["bags"], "budget": {"max_total": 0}}, 422),
        (
            {
                "anchor_ids": ["cam-eos"],
                "slots": ["bags"],
                "rules": {"pin": ["bag-lowe"], "exclude": ["bag-lowe"]},
            },
            422,
        ),
        ({"anchor_ids": ["cam-eos"], "slots": ["bags"], "rules": {"pin": ["cam-eos"]}}, 422),
    ],
)
def test_bad_bundle_requests_get_a_clear_4xx(client: TestClient, body: dict[str, Any], status: int) -> None:  # type: ignore[type-arg]
    response = client.post(URL, json=body)
    assert response.status_code == status
    assert response.json()["message"]


def _bundle(*picks: tuple[str, str, str], rationale: str = "A complete camera kit.") -> httpx.Response:
    content = json.dumps(
        {"picks": [{"slot": s, "id": i, "reason": r} for s, i, r in picks], "rationale": rationale}
    )
    return httpx.Response(200, json=chat_completion(content))


@respx.mock
def test_the_llm_composes_the_bundle_over_http(llm_client: TestClient) -> None:  # type: ignore[type-arg]
    route = respx.post(f"{LLM_URL}/chat/completions").mock(
        return_value=_bundle(
            ("memory", "sd-kingston", "Room for a holiday of photos."),
            ("bags", "bag-lowe", "Light and cheap."),
        )
    )
    body = llm_client.post(URL, json={"anchor_ids": ["cam-eos"], "slots": ["bags", "memory"]}).json()
    assert body["ranking"] == "llm"
    assert body["fallback"] is None
    assert [s["item"]["id"] for s in body["slots"]] == ["bag-lowe", "sd-kingston"]
    assert body["rationale"] == "A complete camera kit."
    sent = json.loads(route.calls[0].request.content)
    schema = sent["response_format"]["json_schema"]["schema"]
    assert set(schema["properties"]["picks"]["items"]["properties"]["slot"]["enum"]) == {"bags", "memory"}
    assert schema["properties"]["picks"]["maxItems"] == 2
    again = llm_client.post(URL, json={"anchor_ids": ["cam-eos"], "slots": ["bags", "memory"]}).json()
    assert route.call_count == 1  # the second is a cache hit
    assert again["slots"] == body["slots"]


@respx.mock
@pytest.mark.parametrize(
    ("upstream", "reason"),
    [
        (httpx.Response(500, json={"error": {"message": "boom"}}), "server_error"),
        (
            httpx.Response(429, json={"error": {"message": "slow"}}, headers={"retry-after": "30"}),
            "rate_limited",
        ),
        (httpx.ConnectError("refused"), "connection_error"),
        (httpx.Response(200, json=chat_completion("not json")), "invalid_output"),
        (httpx.Response(400, json={"error": {"message": "bad model"}}), "rejected"),
    ],
)
def test_every_llm_failure_gives_the_vector_bundle_flagged_over_http(
    llm_client: TestClient,
    upstream: Any,
    reason: str,  # type: ignore[type-arg]
) -> None:
    respx.post(f"{LLM_URL}/chat/completions").mock(side_effect=[upstream] * 10)
    body = llm_client.post(URL, json={"anchor_ids": ["cam-eos"], "slots": ["batteries", "bags"]}).json()
    assert body["fallback"] == {"reason": reason}
    assert body["ranking"] == "vector"
    assert [s["item"]["id"] for s in body["slots"]] == ["bat-canon", "bag-canon"]


@respx.mock
def test_a_timeout_gives_the_vector_bundle_within_the_deadline(llm_client: TestClient) -> None:  # type: ignore[type-arg]
    async def slow(_: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return _bundle(("bags", "bag-lowe", "x"))

    respx.post(f"{LLM_URL}/chat/completions").mock(side_effect=slow)
    body = llm_client.post(URL, json={"anchor_ids": ["cam-eos"], "slots": ["bags"]}).json()
    assert body["fallback"] == {"reason": "timeout"}
    assert body["timings_ms"]["compose"] < 500 + 100
