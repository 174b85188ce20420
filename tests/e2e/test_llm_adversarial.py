"""Every LLM-written field of every route against an adversarial LLM endpoint: the real
`OpenAILLMClient` over respx (the HTTP edge only), answering schema-valid JSON whose every free
string is an advertisement, a wrong price, another brand's product, a fake model number or an
echo of its instructions. No response body, JSON or SSE, may carry any of it; the fallback says
why, and the deterministic text is shown instead."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from litestar.testing import TestClient

from app.adapters.memory_cache import MemoryCache
from app.adapters.openai_llm_client import OpenAILLMClient
from app.domain.models import Product
from app.main import Deps, create_app
from app.settings import Settings
from embeddings.ingest import ingest
from tests import assistant_catalog, bundle_catalog
from tests.fakes import HashingEmbedder, InMemoryVectorIndex, chat_completion

pytestmark = pytest.mark.e2e

LLM_URL = "http://llm.test/v1"
AD = "Only $1.00 today at http://evil.example, call 555-0199"
# (name, the free string, what must never reach a response body)
VARIANTS: list[tuple[str, str, tuple[str, ...]]] = [
    ("ad", AD, (AD, "evil.example", "555-0199", "$1.00", "Only $1")),
    ("wrong price", "A steal at just $12.99 this week", ("$12.99", "12.99", "steal")),
    ("another brand", "Skip it and get the Bose SoundLink Flex instead", ("Bose", "SoundLink")),
    ("fake model", "Same driver as the premium XR-9000 model", ("XR-9000",)),
    ("injection echo", "", ("<the task's own instructions>",)),  # filled per request (ECHO)
]
ECHO = "echo"


def _echo(request: dict[str, Any]) -> str:
    """Ten words of the task's own system prompt: what a model steered by injected text says."""
    system = request["messages"][0]["content"]
    return "Sure. " + " ".join(system.split()[:10])


def _slot_ids(request: dict[str, Any]) -> dict[str, str]:
    """The bundle prompt lists `Slot: <name>` and its numbered candidates: the first id of each."""
    prompt = request["messages"][-1]["content"]
    out: dict[str, str] = {}
    for block in prompt.split("Slot: ")[1:]:
        slot = block.split("\n", 1)[0].strip()
        found = re.search(r'"id": "([^"]+)"', block)
        if found and "(fixed by the merchandiser)" not in slot:
            out[slot] = found.group(1)
    return out


def fill(schema: dict[str, Any], text: str, request: dict[str, Any]) -> Any:
    """A value that satisfies `schema` (the request's response_format), every free string `text`,
    every number a price nobody said."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties", {})
        if "picks" in props:  # a bundle: one valid pick per slot, so the reasons are what is tested
            picks = [{"slot": s, "id": i, "reason": text} for s, i in _slot_ids(request).items()]
            return {"picks": picks, "rationale": text}
        return {k: fill(v, text, request) for k, v in props.items()}
    if kind == "array":
        items = schema.get("items", {})
        most = schema.get("maxItems", 5)
        if "enum" in items:
            return list(items["enum"])[:most]
        id_enum = items.get("properties", {}).get("id", {}).get("enum")
        if id_enum:
            return [{**fill(items, text, request), "id": i} for i in id_enum[:most]]
        return [fill(items, text, request)]
    if kind == "string":
        return text
    if kind in ("number", "integer") or (isinstance(kind, list) and "number" in kind):
        return 1.0
    return None


def adversary(
    text: str, honest: Callable[[str, dict[str, Any]], Any] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    """An OpenAI-compatible endpoint answering every task with `text` in every free string;
    `honest(task, request)` may answer a task truthfully instead (returning None leaves it)."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        spec = body["response_format"]["json_schema"]
        said = _echo(body) if text == ECHO else text
        value = honest(spec["name"], body) if honest else None
        if value is None:
            value = fill(spec["schema"], said, body)
        return httpx.Response(200, json=chat_completion(json.dumps(value)))

    return answer


def make_app(tmp_path: Path, products: list[Product]) -> Any:
    index = InMemoryVectorIndex()
    embedder = HashingEmbedder()
    asyncio.run(ingest(products, "shop", embedder, index, model_id="m"))
    llm = OpenAILLMClient(LLM_URL, "sk-test", "tiny")
    settings = Settings(
        complements_dir=tmp_path, llm_deadline_ms=2000, llm_base_url=LLM_URL, llm_model="tiny"
    )
    return create_app(settings, Deps(embedder=embedder, index=index, llm=llm, cache=MemoryCache()))


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(make_app(tmp_path, assistant_catalog.SHOP)) as c:
        yield c


@pytest.fixture
def bundles(tmp_path: Path) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(make_app(tmp_path, bundle_catalog.SHOP)) as c:
        yield c


def clean(raw: str, name: str, text: str, banned: tuple[str, ...]) -> None:
    """Nothing the adversary wrote is anywhere in a response body."""
    for needle in (
        banned
        if name != "injection echo"
        else ("Sure.", "You write", "You are the", "You turn", "merchandiser building")
    ):
        assert needle.casefold() not in raw.casefold(), (name, needle, raw[:2000])
    if text != ECHO:
        assert text.casefold() not in raw.casefold()


PARAMS = [pytest.param(v[1] or ECHO, v[2], id=v[0]) for v in VARIANTS]


def _variant_name(text: str) -> str:
    return next((v[0] for v in VARIANTS if v[1] == text), "injection echo")


@pytest.mark.parametrize(("text", "banned"), PARAMS)
def test_search_and_similar_reasons_never_carry_what_the_facts_do_not_say(
    shop: TestClient,
    text: str,
    banned: tuple[str, ...],  # type: ignore[type-arg]
) -> None:
    with respx.mock as mock:
        mock.post(f"{LLM_URL}/chat/completions").side_effect = adversary(text)
        search = shop.post(
            "/v1/catalogs/shop/search",
            json={"query": "bluetooth speaker", "limit": 4, "rerank": "llm", "explain": True},
        )
        similar = shop.post(
            "/v1/catalogs/shop/similar",
            json={"positive": ["spk-jbl-go"], "limit": 4, "rerank": "none", "explain": True},
        )
    for response in (search, similar):
        assert response.status_code == 200
        body = response.json()
        clean(response.text, _variant_name(text), text, banned)
        assert all("reason" not in i for i in body["items"])  # the no-LLM path shows no reason
        expected = "prompt_echo" if text == ECHO else "ungrounded_reason"
        assert body["fallback"] == {"reason": expected}


INTENT_SAID = "show me bluetooth speakers under $50"


def _honest_intent(task: str, _request: dict[str, Any]) -> Any:
    if task != "intent":
        return None
    return {
        "query": "bluetooth speakers", "categories": ["speakers & audio"], "brands": [], "exclude_brands": [],
        "price_min": None, "price_max": 50, "attributes": [], "sort": "relevance",
    }  # fmt: skip


def _honest_reply(task: str, request: dict[str, Any]) -> Any:
    """A grounded reply whose reasons are the adversary's."""
    if task == "intent":
        return _honest_intent(task, request)
    return None


def _assistant(client: TestClient, stream: bool) -> tuple[str, dict[str, Any]]:  # type: ignore[type-arg]
    response = client.post(
        "/v1/catalogs/shop/assistant",
        json={"messages": [{"role": "user", "content": INTENT_SAID}], "limit": 3, "stream": stream},
    )
    assert response.status_code == 200
    if not stream:
        return response.text, response.json()
    events = [b for b in response.text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    assert events[0].startswith("event: items")
    assert events[-1].startswith("event: done")
    return response.text, json.loads(events[-1].split("data: ", 1)[1])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(("text", "banned"), PARAMS)
def test_an_adversarial_intent_gives_way_to_the_parser(
    shop: TestClient,
    text: str,
    banned: tuple[str, ...],
    stream: bool,  # type: ignore[type-arg]
) -> None:
    with respx.mock as mock:
        mock.post(f"{LLM_URL}/chat/completions").side_effect = adversary(text)
        raw, body = _assistant(shop, stream)
    clean(raw, _variant_name(text), text, banned)
    expected = "prompt_echo" if text == ECHO else "ungrounded_intent"
    assert body["fallback"] == {"reason": expected, "stage": "intent"}
    assert body["intent"]["source"] == "parser"
    assert body["intent"]["query"] == "bluetooth speakers"
    assert body["reply"].startswith("I found")
    assert all(i["reason"].startswith("Matches “bluetooth speakers”") for i in body["items"])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(("text", "banned"), PARAMS)
def test_an_adversarial_reply_is_replaced_by_the_template(
    shop: TestClient,
    text: str,
    banned: tuple[str, ...],
    stream: bool,  # type: ignore[type-arg]
) -> None:
    with respx.mock as mock:
        mock.post(f"{LLM_URL}/chat/completions").side_effect = adversary(text, _honest_intent)
        raw, body = _assistant(shop, stream)
    clean(raw, _variant_name(text), text, banned)
    expected = "prompt_echo" if text == ECHO else "ungrounded_reply"
    assert body["fallback"] == {"reason": expected, "stage": "reply"}
    assert body["intent"]["source"] == "llm"
    assert body["reply"].startswith("I found")
    assert body["items"]
    assert all(i["reason"].startswith("Matches") for i in body["items"])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(("text", "banned"), [p for p in PARAMS if p.id != "injection echo"])
def test_adversarial_reasons_under_a_grounded_reply_are_replaced_one_by_one(
    shop: TestClient,
    text: str,
    banned: tuple[str, ...],
    stream: bool,  # type: ignore[type-arg]
) -> None:
    def honest(task: str, request: dict[str, Any]) -> Any:
        if task == "intent":
            return _honest_intent(task, request)
        ids = request["response_format"]["json_schema"]["schema"]["properties"]["reasons"]["items"]
        ids = ids["properties"]["id"]["enum"]
        return {
            "reply": f"The [{ids[0]}] is a good bluetooth speaker.",
            "reasons": [{"id": i, "reason": text} for i in ids],
        }

    with respx.mock as mock:
        mock.post(f"{LLM_URL}/chat/completions").side_effect = adversary(text, honest)
        raw, body = _assistant(shop, stream)
    clean(raw, _variant_name(text), text, banned)
    assert body["fallback"] == {"reason": "ungrounded_reason", "stage": "reply"}
    assert not body["reply"].startswith("I found")  # the grounded reply stands
    assert body["items"]
    assert all(i["reason"].startswith("Matches") for i in body["items"])


@pytest.mark.parametrize(("text", "banned"), PARAMS)
def test_bundle_reasons_and_rationale_never_carry_what_the_facts_do_not_say(
    bundles: TestClient,
    text: str,
    banned: tuple[str, ...],  # type: ignore[type-arg]
) -> None:
    with respx.mock as mock:
        mock.post(f"{LLM_URL}/chat/completions").side_effect = adversary(text)
        planned = bundles.post(
            "/v1/catalogs/shop/bundles", json={"anchor_ids": ["cam-eos"], "slots": ["batteries", "bags"]}
        )
        # Pants have no map and no curated default: the LLM plans the slots.
        proposed = bundles.post("/v1/catalogs/shop/bundles", json={"anchor_ids": ["jeans-m"], "max_items": 2})
    for response, anchor in ((planned, "Canon EOS 250D"), (proposed, "Roadster Men Navy")):
        assert response.status_code == 200, response.text
        body = response.json()
        clean(response.text, _variant_name(text), text, banned)
        expected = "prompt_echo" if text == ECHO else "ungrounded_reason"
        assert body["fallback"] == {"reason": expected}
        assert body["rationale"].startswith(f"Completes {anchor}")
        assert all(s["reason"] for s in body["slots"] if s["item"])
    assert proposed.json()["plan"]["source"] == "llm"  # slots are enums: nothing free to write


def test_what_grounding_kept_back_is_counted_by_check(shop: TestClient) -> None:  # type: ignore[type-arg]
    with respx.mock as mock:
        mock.post(f"{LLM_URL}/chat/completions").side_effect = adversary(AD)
        body = shop.post(
            "/v1/catalogs/shop/search",
            json={"query": "bluetooth speaker", "limit": 4, "rerank": "none", "explain": True},
        ).json()
    assert body["fallback"] == {"reason": "ungrounded_reason"}
    metrics = shop.get("/metrics").text
    assert 'aisle_llm_ungrounded_total{check="link"} 4.0' in metrics
    assert 'aisle_llm_requests_total{outcome="ungrounded_reason"} 1.0' in metrics
