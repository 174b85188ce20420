"""The tools as OpenAI function tools: valid against the `tools` parameter's own types (the openai
package's TypedDicts, as JSON Schema) and JSON Schema 2020-12, printed by `aisle tools`, and used
in a chat completion loop through the official client (respx plays the model): the model calls a
tool, the call runs through the typed client against the real app, the result goes back (the
agent loop of docs/examples/openai_agent.py)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import respx
from litestar import Litestar
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionToolUnionParam
from pydantic import TypeAdapter

from aisle.tools import openai_tools
from app.cli import main
from tests.client_stack import async_client, make_app
from tests.fakes import chat_completion

pytestmark = pytest.mark.e2e
LLM_URL = "http://llm.test/v1"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "openai_agent.py"


def closed(schema: dict[str, Any]) -> dict[str, Any]:
    """The openai TypedDicts' schema with unknown keys refused (TypedDicts ignore them)."""
    for definition in [schema, *schema.get("$defs", {}).values()]:
        if definition.get("type") == "object" and "properties" in definition:
            definition["additionalProperties"] = False
    return schema


def test_the_definitions_are_valid_openai_function_tools() -> None:
    tools = openai_tools()
    TypeAdapter(list[ChatCompletionToolUnionParam]).validate_python(tools, strict=True)
    schema = closed(TypeAdapter(list[ChatCompletionToolUnionParam]).json_schema())
    jsonschema.validate(tools, schema)
    for tool in tools:
        function = tool["function"]
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", function["name"])
        assert function["description"]
        jsonschema.Draft202012Validator.check_schema(function["parameters"])
        assert function["parameters"]["type"] == "object"


def test_a_stray_key_would_be_caught() -> None:
    schema = closed(TypeAdapter(list[ChatCompletionToolUnionParam]).json_schema())
    broken = [{**openai_tools()[0], "functon": {}}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_aisle_tools_prints_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--format", "openai", "--catalog", "shop"]) == 0
    assert json.loads(capsys.readouterr().out) == openai_tools("shop")
    assert main(["tools", "--format", "mcp"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in listed] == [t["function"]["name"] for t in openai_tools()]
    assert listed[0]["inputSchema"] == openai_tools()[0]["function"]["parameters"]


def tool_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    body = chat_completion(None)
    body["choices"][0]["finish_reason"] = "tool_calls"
    body["choices"][0]["message"]["tool_calls"] = [
        {"id": "call_1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
    ]
    return body


@pytest.fixture
def app() -> Litestar:
    return make_app()


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("openai_agent", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_example_agent_searches_then_completes_the_look(app: Litestar) -> None:
    agent = load_example()
    llm = AsyncOpenAI(base_url=LLM_URL, api_key="k", max_retries=0)
    messages: list[Any] = [{"role": "user", "content": "a Canon camera, and what goes with it"}]
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{LLM_URL}/chat/completions")
        route.side_effect = [
            httpx.Response(200, json=tool_call("search_products", {"query": "canon camera", "limit": 3})),
            httpx.Response(
                200,
                json=tool_call(
                    "complete_the_look", {"anchor_ids": ["cam-eos"], "slots": ["bags"], "compose": "vector"}
                ),
            ),
            httpx.Response(200, json=chat_completion("The EOS 250D, with a Canon bag.")),
        ]
        async with async_client(app) as aisle:
            reply = await agent.agent_turn(llm, aisle, messages, model="m", catalog="shop")
    assert reply == "The EOS 250D, with a Canon bag."
    sent = [json.loads(call.request.content) for call in route.calls]
    assert sent[0]["tools"] == openai_tools("shop")
    found = json.loads(sent[1]["messages"][-1]["content"])
    assert "cam-eos" in [i["id"] for i in found["items"]]
    bundle = json.loads(sent[2]["messages"][-1]["content"])
    assert bundle["anchor"][0]["id"] == "cam-eos"
    assert bundle["slots"][0]["item"]["category"] == "Bags"
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]


async def test_a_bad_tool_call_goes_back_to_the_model_as_an_error(app: Litestar) -> None:
    agent = load_example()
    llm = AsyncOpenAI(base_url=LLM_URL, api_key="k", max_retries=0)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{LLM_URL}/chat/completions")
        route.side_effect = [
            httpx.Response(200, json=tool_call("search_products", {"query": "camera bag", "limit": 0})),
            httpx.Response(200, json=chat_completion("Sorry.")),
        ]
        async with async_client(app) as aisle:
            await agent.agent_turn(
                llm, aisle, [{"role": "user", "content": "bags"}], model="m", catalog="shop"
            )
    returned = json.loads(route.calls[1].request.content)["messages"][-1]
    assert (returned["role"], returned["tool_call_id"]) == ("tool", "call_1")
    assert "invalid argument limit" in json.loads(returned["content"])["error"]
