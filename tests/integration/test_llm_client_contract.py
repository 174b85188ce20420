"""One contract, every LLMClient: the scripted fake the unit tests use, and the OpenAI adapter with
respx faking only its upstream HTTP.

Each implementation is told what its upstream does in its own terms (a script entry for the fake,
an HTTP response or transport error for the adapter); what the stage sees must be the same: the
answer's text, model and token usage, the domain error (with its fallback reason) for every
upstream failure, exactly one upstream request per call (the stage owns retries), and the request
as the stage built it. A new provider adapter gets one harness here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx

from app.adapters.openai_llm_client import OpenAILLMClient
from app.domain.errors import (
    LLMConnectionError,
    LLMInvalidOutput,
    LLMRateLimited,
    LLMRejected,
    LLMServerError,
    LLMTimeout,
    LLMUnavailable,
)
from app.domain.llm import ChatMessage, LLMRequest
from app.ports import LLMClient
from tests.fakes import ScriptedLLM, chat_completion

pytestmark = pytest.mark.integration

URL = "http://llm.test/v1"
MODEL = "tiny"
ANSWER = '{"ranking": ["a", "b"]}'
USAGE = (40, 5)
REQUEST = LLMRequest(
    (ChatMessage("system", "Rank the candidates."), ChatMessage("user", "speakers: a, b")),
    "rerank",
    {"type": "object", "properties": {"ranking": {"type": "array", "items": {"type": "string"}}}},
    max_tokens=64,
    timeout_s=2.0,
)

# What the upstream does -> the error the client must raise (and so the stage's fallback reason).
FAILURES: dict[str, type[LLMUnavailable]] = {
    "timeout": LLMTimeout,
    "connection_refused": LLMConnectionError,
    "rate_limited": LLMRateLimited,
    "server_error": LLMServerError,
    "rejected": LLMRejected,
    "refusal": LLMInvalidOutput,
    "empty_answer": LLMInvalidOutput,
}


@dataclass
class Harness:
    """One implementation behind the port, and the means to script its upstream."""

    build: Callable[[str], LLMClient]  # an upstream behaviour ("ok" or a FAILURES key) -> a client
    calls: Callable[[], int]  # upstream requests made so far
    sent: Callable[[], dict[str, Any]]  # the last request as the upstream received it


def _fake() -> Harness:
    made: list[ScriptedLLM] = []
    errors: dict[str, Exception] = {
        "timeout": LLMTimeout("timed out"),
        "connection_refused": LLMConnectionError("refused"),
        "rate_limited": LLMRateLimited("429", retry_after_s=2.0),
        "server_error": LLMServerError("503"),
        "rejected": LLMRejected("400"),
        "refusal": LLMInvalidOutput("refused to answer"),
        "empty_answer": LLMInvalidOutput("empty content"),
    }

    def build(behaviour: str) -> LLMClient:
        made.append(ScriptedLLM(errors.get(behaviour, ANSWER), model=MODEL, usage=USAGE))
        return made[-1]

    def sent() -> dict[str, Any]:
        request = made[-1].requests[-1]
        return {
            "messages": [(m.role, m.content) for m in request.messages],
            "schema": request.schema_name,
            "max_tokens": request.max_tokens,
        }

    return Harness(build, lambda: sum(m.calls for m in made), sent)


def _openai(mock: respx.MockRouter) -> Harness:
    route = mock.post(f"{URL}/chat/completions")
    ok = chat_completion(ANSWER, prompt_tokens=USAGE[0], completion_tokens=USAGE[1])
    upstream: dict[str, Any] = {
        "ok": httpx.Response(200, json=ok),
        "timeout": httpx.ReadTimeout("read timed out"),
        "connection_refused": httpx.ConnectError("refused"),
        "rate_limited": httpx.Response(429, headers={"retry-after": "2"}, json={}),
        "server_error": httpx.Response(503, json={}),
        "rejected": httpx.Response(400, json={}),
        "refusal": httpx.Response(200, json=chat_completion(None, refusal="I can't help with that.")),
        "empty_answer": httpx.Response(200, json=chat_completion("")),
    }

    def build(behaviour: str) -> LLMClient:
        outcome = upstream[behaviour]
        if isinstance(outcome, Exception):
            route.side_effect = outcome
        else:
            route.side_effect, route.return_value = None, outcome
        return OpenAILLMClient(URL, "sk-test", MODEL)

    def sent() -> dict[str, Any]:
        body = json.loads(route.calls.last.request.content)
        return {
            "messages": [(m["role"], m["content"]) for m in body["messages"]],
            "schema": body["response_format"]["json_schema"]["name"],
            "max_tokens": body["max_tokens"],
        }

    return Harness(build, lambda: route.call_count, sent)


@pytest.fixture(params=["scripted-fake", "openai-respx"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "scripted-fake":
        yield _fake()
        return
    with respx.mock(assert_all_called=False) as mock:
        yield _openai(mock)


async def test_an_answer_comes_back_with_its_text_model_and_token_usage(harness: Harness) -> None:
    client = harness.build("ok")
    response = await client.complete(REQUEST)
    assert (response.text, response.model, client.model) == (ANSWER, MODEL, MODEL)
    assert (response.prompt_tokens, response.completion_tokens) == USAGE
    await client.close()


async def test_the_request_reaches_the_upstream_as_the_stage_built_it(harness: Harness) -> None:
    await harness.build("ok").complete(REQUEST)
    assert harness.sent() == {
        "messages": [(m.role, m.content) for m in REQUEST.messages],
        "schema": "rerank",
        "max_tokens": 64,
    }


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_every_upstream_failure_is_one_domain_error_with_its_reason(
    harness: Harness, failure: str
) -> None:
    client = harness.build(failure)
    with pytest.raises(LLMUnavailable) as raised:
        await client.complete(REQUEST)
    assert type(raised.value) is FAILURES[failure]
    assert raised.value.reason == FAILURES[failure].reason
    assert harness.calls() == 1  # never retried: the stage is the one retry owner


async def test_a_rate_limit_says_when_to_come_back(harness: Harness) -> None:
    with pytest.raises(LLMRateLimited) as raised:
        await harness.build("rate_limited").complete(REQUEST)
    assert raised.value.retry_after_s == 2.0
