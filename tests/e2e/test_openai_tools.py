"""The tools as OpenAI function tools: valid against the `tools` parameter's own types (the openai
package's TypedDicts, as JSON Schema) and JSON Schema 2020-12, printed by `aisle tools`, and used
in a chat completion loop through the official client (respx plays the model): the model calls a
tool, the call runs through the typed client against the real app, the result goes back."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import jsonschema
import pytest
import respx
from litestar import Litestar
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionToolUnionParam
from pydantic import TypeAdapter

from aisle.tools import answer, openai_tools
from app.cli import main
from tests.client_stack import async_client, make_app
from tests.fakes import chat_completion

pytestmark = pytest.mark.e2e
LLM_URL = "http://llm.test/v1"


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


@pytest.mark.parametrize(
    ("arguments", "check"),
    [
        (
            {"catalog": "shop", "query": "camera bag", "limit": 2, "filters": {"price_max": 40}},
            lambda result: len(result["items"]) == 2 and all(i["price"] <= 40 for i in result["items"]),
        ),
        ({"catalog": "shop", "query": "camera bag", "limit": 0}, lambda result: "limit" in result["error"]),
    ],
)
async def test_a_chat_completion_calls_a_tool_and_gets_the_result_back(
    app: Litestar, arguments: dict[str, Any], check: Any
) -> None:
    llm = AsyncOpenAI(base_url=LLM_URL, api_key="k", max_retries=0)
    messages: list[Any] = [{"role": "user", "content": "a camera bag under $40, two options"}]
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{LLM_URL}/chat/completions")
        route.side_effect = [
            httpx.Response(200, json=tool_call("search_products", arguments)),
            httpx.Response(200, json=chat_completion("Here are two bags.")),
        ]
        async with async_client(app) as aisle:
            first = await llm.chat.completions.create(model="m", messages=messages, tools=openai_tools())
            message = first.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls or []:
                assert call.type == "function"
                content = await answer(aisle, call.function.name, call.function.arguments)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
            final = await llm.chat.completions.create(model="m", messages=messages, tools=openai_tools())
    assert final.choices[0].message.content == "Here are two bags."
    sent_tools = json.loads(route.calls[0].request.content)["tools"]
    assert sent_tools == openai_tools()
    returned = json.loads(route.calls[1].request.content)["messages"][-1]
    assert (returned["role"], returned["tool_call_id"]) == ("tool", "call_1")
    assert check(json.loads(returned["content"]))
