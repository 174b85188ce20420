"""A terminal chat with Aisle's shopping assistant, on the typed client (aisle.client): products
as soon as retrieval is done, then the reply as it streams; the whole conversation is resent each
turn (the API is stateless).

    AISLE_API_KEY=... python docs/examples/assistant_client.py --url http://127.0.0.1:8000 --catalog icecat

tests/e2e/test_assistant_client_example.py runs `ask` against the app.
"""

from __future__ import annotations

import argparse
from typing import Any

from aisle.client import Aisle, AisleError, Done, ItemsReady, Message, ReplyToken


def ask(aisle: Aisle, catalog: str, messages: list[Message], out: Any = print) -> Done:
    """One turn: prints the items early and the reply as it arrives; returns the final event."""
    final = None
    for event in aisle.assistant_stream(catalog, messages):
        if isinstance(event, ItemsReady):
            for item in event.items:
                price = f"{item.price:.2f} {item.currency}" if item.price is not None else "n/a"
                out(f"  • {item.title} — {price}")
            if event.fallback:
                out(f"  (answering without the LLM: {event.fallback.reason})")
        elif isinstance(event, ReplyToken):
            out(event.text, end="", flush=True)
        elif isinstance(event, Done):
            out("")
            final = event
    assert final is not None  # the client raises if the stream ends without `done`
    return final


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=None, help="default: AISLE_URL, else http://127.0.0.1:8000")
    parser.add_argument("--catalog", default="icecat")
    args = parser.parse_args()
    messages: list[Message] = []
    with Aisle(args.url, total_timeout=120) as aisle:
        while True:
            try:
                text = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                return
            if not text:
                continue
            messages.append(Message("user", text))
            try:
                done = ask(aisle, args.catalog, messages)
            except AisleError as e:
                print(f"aisle: {e}")
                messages.pop()
                continue
            messages.append(Message("assistant", done.result.reply))
            messages = messages[-20:]  # the API accepts at most 20 messages


if __name__ == "__main__":
    main()
