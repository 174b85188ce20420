"""Key administration over HTTP (`admin` scope): create (the secret is in this response only),
list, revoke. The same use case as `aisle keys ...` (app/auth/admin.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from app.api.auth import requires
from app.api.request_log import annotate
from app.auth.admin import MAX_CATALOGS, MAX_NAME, KeyAdmin
from app.auth.principal import Principal
from app.domain.control_plane import ApiKey, Scope

KeyId = Annotated[str, PathParameter(description="the key's public id", max_length=64)]


class RateLimitIn(msgspec.Struct, forbid_unknown_fields=True):
    per_second: Annotated[float, msgspec.Meta(gt=0, le=1e6)]
    burst: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class KeyIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1, max_length=4)]
    catalogs: (
        Annotated[
            list[Annotated[str, msgspec.Meta(min_length=1, max_length=63)]],
            msgspec.Meta(min_length=1, max_length=MAX_CATALOGS),
        ]
        | Literal["*"]
    )
    rate_limit: RateLimitIn | None = None


class KeyOut(msgspec.Struct):
    id: str
    name: str
    scopes: list[Scope]
    catalogs: list[str] | Literal["*"]
    created_at: datetime
    revoked_at: datetime | None
    rate_limit: RateLimitIn | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        return cls(
            id=key.id,
            name=key.name,
            scopes=sorted(key.scopes),
            catalogs="*" if key.catalogs is None else list(key.catalogs),
            created_at=key.created_at,
            revoked_at=key.revoked_at,
            rate_limit=None
            if key.rate_per_s is None or key.burst is None
            else RateLimitIn(key.rate_per_s, key.burst),
        )


class KeyCreated(msgspec.Struct):
    key: Annotated[str, msgspec.Meta(description="the secret: shown once, only its hash is stored")]
    id: str
    name: str
    scopes: list[Scope]
    catalogs: list[str] | Literal["*"]
    created_at: datetime
    rate_limit: RateLimitIn | None


class KeyList(msgspec.Struct):
    keys: list[KeyOut]


class KeysController(Controller):
    path = "/v1/keys"
    tags = ["keys"]  # noqa: RUF012 - litestar reads a class attribute

    @requires("admin")
    @post("/", status_code=HTTP_201_CREATED, summary="Create an API key (its secret is shown once)")
    async def create_key(
        self,
        data: JSONBody[KeyIn],
        key_admin: NamedDependency[KeyAdmin],
        principal: NamedDependency[Principal],
    ) -> KeyCreated:
        issued = await key_admin.create(
            principal,
            data.name,
            list(data.scopes),
            None if data.catalogs == "*" else list(data.catalogs),
            rate_per_s=data.rate_limit.per_second if data.rate_limit else None,
            burst=data.rate_limit.burst if data.rate_limit else None,
        )
        out = KeyOut.of(issued.key)
        annotate(created_key_id=out.id)
        return KeyCreated(
            key=issued.token,
            id=out.id,
            name=out.name,
            scopes=out.scopes,
            catalogs=out.catalogs,
            created_at=out.created_at,
            rate_limit=out.rate_limit,
        )

    @requires("admin")
    @get("/", summary="The API keys this key manages (never their secrets)")
    async def list_keys(
        self, key_admin: NamedDependency[KeyAdmin], principal: NamedDependency[Principal]
    ) -> KeyList:
        return KeyList([KeyOut.of(k) for k in await key_admin.list(principal)])

    @requires("admin")
    @delete("/{key_id:str}", status_code=HTTP_204_NO_CONTENT, summary="Revoke an API key (idempotent)")
    async def revoke_key(
        self, key_id: KeyId, key_admin: NamedDependency[KeyAdmin], principal: NamedDependency[Principal]
    ) -> None:
        annotate(revoked_key_id=key_id)
        await key_admin.revoke(principal, key_id)
