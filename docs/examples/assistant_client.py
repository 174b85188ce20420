"""A minimal streaming client for Aisle's assistant: a terminal chat that shows products as soon as
retrieval is done, then the reply as it streams, and resends the whole conversation each turn.

    python docs/examples/assistant_client.py --url http://127.0.0.1:8000 --catalog icecat

Needs only httpx. tests/e2e/test_assistant_client_example.py runs `ask` against the app.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

import httpx


def events(
    client: httpx.Client, catalog: str, messages: list[dict[str, str]], limit: int = 5
) -> Iterator[tuple[str, Any]]:
    """(event, data) pairs of one streamed assistant turn: "items", then "token"s, then "done"."""
    body = {"messages": messages, "limit": limit, "stream": True}
    with client.stream("POST", f"/v1/catalogs/{catalog}/assistant", json=body, timeout=120) as response:
        if response.status_code != 200:
            response.read()
            raise RuntimeError(f"{response.status_code}: {response.json().get('message')}")
        event = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                yield event, json.loads(line.split(":", 1)[1])


def ask(
    client: httpx.Client, catalog: str, messages: list[dict[str, str]], out: Any = print
) -> dict[str, Any]:
    """One turn: prints items early and the reply as it arrives; returns the final result."""
    final: dict[str, Any] = {}
    for event, data in events(client, catalog, messages):
        if event == "items":
            for item in data["items"]:
                price = f"{item['price']:.2f} {item['currency']}" if item.get("price") is not None else "n/a"
                out(f"  • {item['title']} — {price}")
            if data.get("fallback"):
                out(f"  (answering without the LLM: {data['fallback']['reason']})")
        elif event == "token":
            out(data["text"], end="", flush=True)
        elif event == "done":
            out("")
            final = data
    return final


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--catalog", default="icecat")
    args = parser.parse_args()
    messages: list[dict[str, str]] = []
    with httpx.Client(base_url=args.url) as client:
        while True:
            try:
                text = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                return
            if not text:
                continue
            messages.append({"role": "user", "content": text})
            result = ask(client, args.catalog, messages)
            messages.append({"role": "assistant", "content": result.get("reply", "")})
            messages = messages[-20:]  # the API accepts at most 20 messages


if __name__ == "__main__":
    main()
