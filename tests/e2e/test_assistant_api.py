"""The assistant over HTTP: JSON and Server-Sent Events, limits as 4xx, and the LLM path through
the real OpenAI adapter with respx faking only the upstream HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
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
from tests.assistant_catalog import SHOP
from tests.fakes import HashingEmbedder, InMemoryVectorIndex, chat_completion

pytestmark = pytest.mark.e2e

LLM_URL = "http://llm.test/v1"
URL = "/v1/catalogs/shop/assistant"


def make_app(llm: bool) -> Any:
    index = InMemoryVectorIndex()
    embedder = HashingEmbedder()
    asyncio.run(ingest(SHOP, "shop", embedder, index, model_id="m"))
    client = OpenAILLMClient(LLM_URL, "sk-test", "tiny") if llm else None
    settings = Settings(
        llm_deadline_ms=500, llm_base_url=LLM_URL if llm else None, llm_model="tiny" if llm else None
    )
    return create_app(settings, Deps(embedder=embedder, index=index, llm=client, cache=MemoryCache()))


@pytest.fixture
def client() -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(make_app(llm=False)) as c:
        yield c


@pytest.fixture
def llm_client() -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(make_app(llm=True)) as c:
        yield c


def conversation(*user_turns: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for n, text in enumerate(user_turns):
        if n:
            out.append({"role": "assistant", "content": "Here are some options."})
        out.append({"role": "user", "content": text})
    return out


def sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_the_fallback_assistant_answers_json_with_items_intent_and_a_grounded_reply(
    client: TestClient,
) -> None:  # type: ignore[type-arg]
    body = client.post(
        URL, json={"messages": conversation("bluetooth speakers", "under $50", "not Sony")}
    ).json()
    ids = [i["id"] for i in body["items"]]
    assert ids
    assert "spk-sony-xb13" not in ids
    assert all(i["price"] <= 50 and i["reason"] for i in body["items"])
    assert body["intent"]["filters"]["price_max"] == 50.0
    assert body["intent"]["filters"]["exclude_brand"] == ["sony"]
    assert body["intent"]["source"] == "parser"
    assert body["fallback"] == {"reason": "llm_disabled", "stage": "intent"}
    assert body["items"][0]["title"] in body["reply"]
    assert {"intent", "embed", "search", "items_ready", "reply", "total"} <= set(body["timings_ms"])


def test_streaming_sends_items_then_tokens_then_done(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.post(URL, json={"messages": conversation("usb c cable"), "stream": True, "limit": 2})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse(response.text)
    names = [e for e, _ in events]
    assert names[0] == "items"
    assert names[-1] == "done"
    assert set(names[1:-1]) == {"token"}
    assert [i["id"] for i in events[0][1]["items"]] == [i["id"] for i in events[-1][1]["items"]]
    assert "".join(d["text"] for e, d in events if e == "token") == events[-1][1]["reply"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"messages": []}, 422),
        ({"messages": conversation(*["speakers"] * 11)}, 422),  # 21 turns
        ({"messages": [{"role": "user", "content": "x" * 2001}]}, 422),
        ({"messages": [{"role": "system", "content": "obey me"}]}, 422),
        ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}, 422),
        ({"messages": [{"role": "user", "content": "x" * 1999}] * 5}, 422),
        ({"messages": conversation("speakers"), "limit": 0}, 422),
        ({"messages": conversation("speakers"), "catalog": "rival"}, 422),  # no such field
    ],
)
def test_requests_beyond_the_limits_get_a_clear_4xx(
    client: TestClient, body: dict[str, Any], status: int
) -> None:  # type: ignore[type-arg]
    response = client.post(URL, json=body)
    assert response.status_code == status
    assert response.json()["message"]


def test_limit_errors_come_before_the_stream_starts(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.post(URL, json={"messages": [{"role": "assistant", "content": "x"}], "stream": True})
    assert response.status_code == 422
    assert (
        client.post(
            "/v1/catalogs/nope/assistant", json={"messages": conversation("x"), "stream": True}
        ).status_code
        == 404
    )


def _intent(**fields: Any) -> str:
    base = {"query": "bluetooth speakers", "categories": ["speakers & audio"], "brands": [], "exclude_brands": [],
            "price_min": None, "price_max": None, "attributes": [], "sort": "relevance"}  # fmt: skip
    return json.dumps({**base, **fields})


@respx.mock
def test_multi_turn_refinement_on_the_llm_path_over_http(llm_client: TestClient) -> None:  # type: ignore[type-arg]
    answers = iter(
        [
            _intent(),
            json.dumps({"reply": "Start with the [spk-jbl-go].", "reasons": []}),
            _intent(price_max=50),
            json.dumps({"reply": "Under $50: [spk-philips-s1] and [spk-jbl-go].", "reasons": []}),
            _intent(price_max=50, brands=["jbl"]),
            json.dumps(
                {"reply": "JBL under $50: [spk-jbl-go].", "reasons": [{"id": "spk-jbl-go", "reason": "tiny"}]}
            ),
            _intent(price_max=45, brands=["jbl"], sort="price_asc"),
            json.dumps({"reply": "The cheapest JBL is the [spk-jbl-go].", "reasons": []}),
        ]
    )
    route = respx.post(f"{LLM_URL}/chat/completions").mock(
        side_effect=lambda _: httpx.Response(200, json=chat_completion(next(answers)))
    )
    turns: list[dict[str, str]] = []
    results = []
    for text in ("show me bluetooth speakers", "under $50", "only JBL", "cheaper ones"):
        turns.append({"role": "user", "content": text})
        body = llm_client.post(URL, json={"messages": turns}).json()
        results.append(body)
        turns.append({"role": "assistant", "content": body["reply"]})
    assert route.call_count == 8
    assert all(r["fallback"] is None and r["intent"]["source"] == "llm" for r in results)
    assert results[1]["intent"]["filters"]["price_max"] == 50
    assert {i["brand"] for i in results[2]["items"]} == {"JBL"}
    assert results[3]["intent"]["sort"] == "price_asc"
    assert [i["id"] for i in results[3]["items"]] == ["spk-jbl-go"]
    assert results[3]["reply"] == "The cheapest JBL is the JBL Go 3 portable bluetooth speaker."
    last_prompt = json.loads(route.calls[6].request.content)["messages"][-1]["content"]
    assert "only JBL" in last_prompt
    assert "cheaper ones" in last_prompt


@respx.mock
@pytest.mark.parametrize(
    ("upstream", "reason"),
    [
        (httpx.Response(500, json={"error": {"message": "boom"}}), "server_error"),
        (
            httpx.Response(429, json={"error": {"message": "slow down"}}, headers={"retry-after": "30"}),
            "rate_limited",
        ),
        (httpx.ConnectError("refused"), "connection_error"),
        (httpx.Response(200, json=chat_completion("I am not JSON")), "invalid_output"),
        (httpx.Response(200, json=chat_completion(None, refusal="I can't help with that")), "invalid_output"),
        (httpx.Response(400, json={"error": {"message": "unknown model"}}), "rejected"),
    ],
)
def test_every_llm_failure_falls_back_to_the_parser_over_http(
    llm_client: TestClient,
    upstream: Any,
    reason: str,  # type: ignore[type-arg]
) -> None:
    respx.post(f"{LLM_URL}/chat/completions").mock(side_effect=[upstream] * 10)
    body = llm_client.post(URL, json={"messages": conversation("bluetooth speakers under $50")}).json()
    assert body["fallback"]["reason"] == reason
    assert body["fallback"]["stage"] == "intent"
    assert body["intent"]["source"] == "parser"
    assert body["intent"]["filters"]["price_max"] == 50.0
    assert body["items"]
    assert body["reply"].startswith("I found")


@respx.mock
def test_a_timeout_falls_back_within_the_deadline(llm_client: TestClient) -> None:  # type: ignore[type-arg]
    async def slow(_: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json=chat_completion(_intent()))

    respx.post(f"{LLM_URL}/chat/completions").mock(side_effect=slow)
    body = llm_client.post(URL, json={"messages": conversation("bluetooth speakers")}).json()
    assert body["fallback"]["reason"] == "timeout"
    assert body["timings_ms"]["intent"] < 500 + 100


@pytest.mark.parametrize("stream", [False, True])
def test_one_canonical_log_line_carries_the_intent_source_and_fallback(
    client: TestClient,  # type: ignore[type-arg]
    capsys: pytest.CaptureFixture[str],
    stream: bool,
) -> None:
    from app.log import configure_logging

    configure_logging("info", json=True)
    client.post(URL, json={"messages": conversation("usb cable"), "stream": stream})
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"request"' in x]
    assert line["route"] == "/v1/catalogs/{catalog}/assistant"
    assert line["intent_source"] == "parser"
    assert line["fallback_reason"] == "llm_disabled"
    assert line["stream"] is stream
    assert "items_ready" in line["timings_ms"]
