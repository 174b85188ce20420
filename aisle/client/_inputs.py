"""Arguments as the wire types: shared by both clients. Nothing is validated here: the server
does, with the same schema, and its 422 names the field (`Invalid.field`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from aisle.client._wire import EventIn, MessageIn, ProductIn

# The server's own Literals (app/domain), checked equal by tests/unit/test_client_types.py.
Scope = Literal["search", "write", "admin", "events"]
RecommendationKind = Literal["bought_together", "viewed_together", "trending", "for_session", "for_user"]


def messages_of(messages: Sequence[MessageIn | Mapping[str, str]]) -> list[MessageIn]:
    """`[{"role": "user", "content": "..."}]` or `MessageIn`s."""
    out = []
    for message in messages:
        if isinstance(message, MessageIn):
            out.append(message)
        else:
            role: Any = message.get("role", "")  # the server names a bad role (422)
            out.append(MessageIn(role=role, content=message.get("content", "")))
    return out


def rows_of(products: Sequence[ProductIn | Mapping[str, Any]]) -> list[ProductIn | Mapping[str, Any]]:
    """`ProductIn`s, or mappings (the canonical format or a raw Icecat row: the server reads both)."""
    return [p if isinstance(p, ProductIn) else dict(p) for p in products]


def events_of(events: Sequence[EventIn | Mapping[str, Any]]) -> list[EventIn | Mapping[str, Any]]:
    """The events, each with an `event_id`: one is made here for an event without, so a batch
    retried after a lost answer is stored once (the server keeps an event id once)."""
    out: list[EventIn | Mapping[str, Any]] = []
    for event in events:
        if isinstance(event, EventIn):
            has_id = event.event_id is not None
            out.append(event if has_id else msgspec.structs.replace(event, event_id=_new_id()))
        else:
            out.append(event if event.get("event_id") else {**event, "event_id": _new_id()})
    return out


def _new_id() -> str:
    return f"c:{uuid.uuid4().hex}"
