"""The assistant's Server-Sent Events, typed: `ItemsReady` (products, before the reply), then
`ReplyToken`s (the reply as it is written), then `Done` (the whole response, as the JSON route
returns it). docs/assistant.md describes the stream."""

from __future__ import annotations

import msgspec

from aisle.client._wire import AssistantResponse, Fallback, IntentOut, Item


class ItemsReady(msgspec.Struct):
    """Retrieval is done: the products to show while the reply is written (no reasons yet)."""

    items: list[Item]
    intent: IntentOut
    ranking: str
    fallback: Fallback | None
    timings_ms: dict[str, float]


class ReplyToken(msgspec.Struct):
    text: str


class Done(msgspec.Struct):
    result: AssistantResponse


AssistantEvent = ItemsReady | ReplyToken | Done

_ITEMS = msgspec.json.Decoder(ItemsReady)
_TOKEN = msgspec.json.Decoder(ReplyToken)
_DONE = msgspec.json.Decoder(AssistantResponse)


def decode_event(event: str, data: str) -> AssistantEvent | None:
    """One event; None for an event this client does not know (a newer server's): skipped."""
    if event == "items":
        return _ITEMS.decode(data)
    if event == "token":
        return _TOKEN.decode(data)
    if event == "done":
        return Done(_DONE.decode(data))
    return None
