"""Keys, the policy, the authenticator's cache and the token bucket, on fakes and fake clocks."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime

import pytest

from app.adapters.memory_rate_limiter import MemoryRateLimiter
from app.adapters.memory_store import MemoryControlStore
from app.api.auth import token_of
from app.auth.admin import KeyAdmin
from app.auth.authenticator import BOOTSTRAP_KEY_ID, Authenticator
from app.auth.principal import Principal, authorize, check_grant, manages
from app.auth.rate_limit import take
from app.auth.tokens import hash_token, key_id_of, new_key_id, new_token
from app.domain.control_plane import ApiKey, RateLimit
from app.domain.errors import CatalogNotFound, Forbidden, InvalidRequest, NotFound, Unauthenticated

ROOT = Principal.root("test")


def test_tokens_are_random_well_formed_and_stored_as_sha256() -> None:
    ids = {new_key_id() for _ in range(200)}
    assert len(ids) == 200
    key_id = ids.pop()
    token = new_token(key_id)
    assert token != new_token(key_id)
    assert key_id_of(token) == key_id
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
    for bad in (
        "",
        "aisle",
        f"aisle_{key_id}",
        f"other_{key_id}_{'A' * 43}",
        f"aisle_{key_id}_short",
        "aisle_UPPERCASE0_" + "A" * 43,
    ):
        assert key_id_of(bad) is None


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ({"authorization": "Bearer abc"}, "abc"),
        ({"authorization": "bearer  abc "}, "abc"),
        ({"authorization": "Basic abc"}, None),
        ({"x-api-key": " abc "}, "abc"),
        ({"authorization": "Bearer abc", "x-api-key": "def"}, "abc"),
        ({}, None),
    ],
)
def test_the_key_travels_as_bearer_or_x_api_key(headers: dict[str, str], token: str | None) -> None:
    assert token_of(headers) == token


def test_the_policy_hides_other_catalogs_then_checks_the_scope() -> None:
    shop_reader = Principal("k", frozenset({"search"}), ("shop",))
    authorize(shop_reader, "search", "shop")
    authorize(shop_reader, "any", None)
    with pytest.raises(CatalogNotFound):
        authorize(shop_reader, "write", "outlet")  # 404 before 403: the other catalog stays invisible
    with pytest.raises(Forbidden):
        authorize(shop_reader, "write", "shop")
    assert shop_reader.visible(["outlet", "shop"]) == ["shop"]
    authorize(ROOT, "admin", "anything")


def test_a_bound_admin_manages_and_grants_within_its_catalogs_only() -> None:
    admin = Principal("a", frozenset({"admin"}), ("shop", "outlet"))
    t = datetime(2026, 1, 1, tzinfo=UTC)
    inside = ApiKey("k1", "n", "h", frozenset({"search"}), ("shop",), t)
    everywhere = ApiKey("k2", "n", "h", frozenset({"search"}), None, t)
    elsewhere = ApiKey("k3", "n", "h", frozenset({"search"}), ("shop", "other"), t)
    assert manages(admin, inside)
    assert not manages(admin, everywhere)
    assert not manages(admin, elsewhere)
    assert manages(ROOT, everywhere)
    check_grant(admin, ("outlet",))
    with pytest.raises(Forbidden):
        check_grant(admin, None)
    with pytest.raises(Forbidden):
        check_grant(admin, ("shop", "other"))


async def test_the_authenticator_accepts_good_keys_and_nothing_else() -> None:
    store = MemoryControlStore()
    admin = KeyAdmin(store)
    issued = await admin.create(ROOT, "storefront", ["search"], ["shop"])
    auth = Authenticator(store, bootstrap_token="b" * 40)
    principal = await auth.authenticate(issued.token)
    assert (principal.key_id, principal.scopes, principal.catalogs) == (issued.key.id, {"search"}, ("shop",))
    assert (await auth.authenticate("b" * 40)).key_id == BOOTSTRAP_KEY_ID
    wrong_secret = issued.token[:-3] + ("AAA" if not issued.token.endswith("AAA") else "BBB")
    for bad in (None, "", "b" * 39, wrong_secret, new_token(issued.key.id), new_token(new_key_id())):
        with pytest.raises(Unauthenticated):
            await auth.authenticate(bad)


async def test_revocation_is_immediate_here_and_within_the_cache_ttl_elsewhere() -> None:
    store = MemoryControlStore()
    now = [0.0]
    here = Authenticator(store, cache_ttl_s=5.0, clock=lambda: now[0])
    elsewhere = Authenticator(store, cache_ttl_s=5.0, clock=lambda: now[0])  # another replica
    issued = await KeyAdmin(store).create(ROOT, "k", ["search"], None)
    await here.authenticate(issued.token)
    await elsewhere.authenticate(issued.token)
    await KeyAdmin(store, here).revoke(ROOT, issued.key.id)
    with pytest.raises(Unauthenticated):
        await here.authenticate(issued.token)
    await elsewhere.authenticate(issued.token)  # still cached
    now[0] = 5.1
    with pytest.raises(Unauthenticated):
        await elsewhere.authenticate(issued.token)


async def test_the_key_cache_is_bounded_and_saves_store_reads() -> None:
    class Counting(MemoryControlStore):
        reads = 0

        async def get_key(self, key_id: str) -> ApiKey | None:
            Counting.reads += 1
            return await super().get_key(key_id)

    store = Counting()
    auth = Authenticator(store, max_cached=2)
    issued = [await KeyAdmin(store).create(ROOT, "k", ["search"], None) for _ in range(3)]
    for _ in range(5):
        await auth.authenticate(issued[0].token)
    assert Counting.reads == 1
    for i in issued:
        await auth.authenticate(i.token)
    await auth.authenticate(issued[0].token)  # evicted by the third: read again
    assert Counting.reads == 4


async def test_key_admin_validates_and_hides_keys_it_does_not_manage() -> None:
    store = MemoryControlStore()
    admin = KeyAdmin(store)
    with pytest.raises(InvalidRequest, match="scopes"):
        await admin.create(ROOT, "k", ["root"], None)
    with pytest.raises(InvalidRequest, match="rate_limit"):
        await admin.create(ROOT, "k", ["search"], None, rate_per_s=1.0)
    with pytest.raises(InvalidRequest) as bad:
        await admin.create(ROOT, "k", ["search"], ["ok", "Not OK"])
    assert bad.value.field == "catalogs[1]"
    shop = await admin.create(ROOT, "k", ["search", "search"], ["shop", "shop"])
    assert shop.key.scopes == {"search"}
    assert shop.key.catalogs == ("shop",)
    assert shop.token not in repr(await store.list_keys())
    outlet_admin = Principal("o", frozenset({"admin"}), ("outlet",))
    assert await admin.list(outlet_admin) == []
    with pytest.raises(NotFound):
        await admin.revoke(outlet_admin, shop.key.id)
    fetched = await store.get_key(shop.key.id)
    assert fetched is not None
    assert fetched.active


def test_the_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    limit = RateLimit(per_second=2.0, burst=3)
    bucket, waits = None, []
    for _ in range(4):
        bucket, wait = take(bucket, limit, now_s=10.0)
        waits.append(wait)
    assert waits == [None, None, None, 0.5]
    bucket, wait = take(bucket, limit, now_s=10.5)
    assert wait is None
    bucket, wait = take(bucket, limit, now_s=100.0)  # long idle: back to the burst, not beyond
    assert bucket.tokens == 2.0


def test_the_memory_limiter_keeps_buckets_per_key_and_bounded() -> None:
    now = [0.0]
    limiter = MemoryRateLimiter(max_buckets=2, clock=lambda: now[0])
    limit = RateLimit(1.0, 1)
    assert asyncio.run(limiter.acquire("a", limit)) is None
    assert asyncio.run(limiter.acquire("a", limit)) == pytest.approx(1.0)
    assert asyncio.run(limiter.acquire("b", limit)) is None
    assert asyncio.run(limiter.acquire("c", limit)) is None  # evicts a
    assert asyncio.run(limiter.acquire("a", limit)) is None
