"""A shopping agent on any OpenAI-compatible chat model, with Aisle's tools as OpenAI function tools
(aisle.tools): the model searches, looks products up and completes the look; every call runs
through the typed client against Aisle, and the model sees compact results (or the field its
arguments got wrong, so it can try again).

    pip install 'aisle[client]'          # in a checkout: pip install -e '.[client]'
    AISLE_API_KEY=... OPENAI_API_KEY=... python docs/examples/openai_agent.py --catalog icecat --model gpt-4.1-mini

`--llm-url` points it at another OpenAI-compatible server. tests/e2e/test_openai_tools.py runs
`agent_turn` against the app, with respx playing the model.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from openai import AsyncOpenAI

from aisle.client import AsyncAisle
from aisle.tools import answer, openai_tools

SYSTEM = (
    "You are a shopping assistant for one retailer. Find products only with the tools and recommend "
    "only products they returned, by title and price. When the shopper settles on a product, offer "
    "what goes with it (complete_the_look). Be brief."
)
MAX_ROUNDS = 6  # model calls per turn: a model that keeps calling tools is stopped here


async def agent_turn(
    llm: AsyncOpenAI, aisle: AsyncAisle, messages: list[Any], *, model: str, catalog: str
) -> str:
    """Runs the model until it answers without calling a tool; `messages` grows with the turn."""
    tools: Any = openai_tools(default_catalog=catalog)
    for _ in range(MAX_ROUNDS):
        response = await llm.chat.completions.create(model=model, messages=messages, tools=tools)
        message = response.choices[0].message
        messages.append(message.model_dump(exclude_none=True))
        if not message.tool_calls:
            return message.content or ""
        for call in message.tool_calls:
            if call.type == "function":
                content = await answer(
                    aisle, call.function.name, call.function.arguments, default_catalog=catalog
                )
                messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    return "(stopped: too many tool calls in one turn)"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=None, help="Aisle (default: AISLE_URL, else http://127.0.0.1:8000)")
    parser.add_argument("--catalog", default="icecat")
    parser.add_argument("--model", default="gpt-4.1-mini")
    parser.add_argument("--llm-url", default=None, help="an OpenAI-compatible server (default: OpenAI)")
    args = parser.parse_args()
    messages: list[Any] = [{"role": "system", "content": SYSTEM}]
    async with AsyncAisle(args.url) as aisle:
        llm = AsyncOpenAI(base_url=args.llm_url)
        while True:
            try:
                text = (await asyncio.to_thread(input, "you> ")).strip()
            except (EOFError, KeyboardInterrupt):
                return
            if text:
                messages.append({"role": "user", "content": text})
                print(await agent_turn(llm, aisle, messages, model=args.model, catalog=args.catalog))


if __name__ == "__main__":
    asyncio.run(main())
