"""Arguments as the wire types: shared by both clients. Nothing is validated here: the server
does, with the same schema, and its 422 names the field (`Invalid.field`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from aisle.client._wire import MessageIn

Scope = Literal["search", "write", "admin"]


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
