"""The trust boundary over HTTP: every /v1 route x (no key, wrong key, another catalog's key, a key
missing the scope, the right key), key administration, 401/403/404/429 bodies and headers, the
OpenAPI declarations, CORS, auth off, and the refusal to start without an admin key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from app.adapters.memory_store import MemoryControlStore
from app.auth.admin import KeyAdmin
from app.auth.principal import Principal
from app.domain.complements import ComplementMap
from app.main import Deps, create_app
from app.settings import Settings, SettingsError
from embeddings.ingest import ingest
from tests.bundle_catalog import SHOP
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

pytestmark = pytest.mark.e2e

ADMIN = "bootstrap-admin-secret-0123456789abcdef"
WRONG = "aisle_aaaaaaaaaa_" + "A" * 43
ROOT = Principal.root("test")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: Any
    access: str
    ok: int

    @property
    def catalog_bound(self) -> bool:
        return "/catalogs/shop" in self.path


ROUTES = [
    Route("GET", "/v1/catalogs", None, "any", 200),
    Route("POST", "/v1/catalogs/shop/search", {"query": "camera bag"}, "search", 200),
    Route("POST", "/v1/catalogs/shop/similar", {"positive": ["bag-canon"]}, "search", 200),
    Route(
        "POST",
        "/v1/catalogs/shop/assistant",
        {"messages": [{"role": "user", "content": "camera bag"}]},
        "search",
        200,
    ),
    Route("POST", "/v1/catalogs/shop/bundles", {"anchor_ids": ["cam-eos"], "slots": ["bags"]}, "search", 200),
    Route("GET", "/v1/catalogs/shop/complements", None, "search", 200),
    Route("PUT", "/v1/catalogs/shop/complements", {"complements": {"cameras": ["bags"]}}, "write", 200),
    Route("GET", "/v1/catalogs/shop/products/cam-eos", None, "search", 200),
    Route(
        "POST",
        "/v1/catalogs/shop/events",
        {"events": [{"type": "view", "item_id": "cam-eos", "session_id": "s1"}]},
        "events",
        200,
    ),
    Route("POST", "/v1/catalogs/shop/recommendations", {"type": "trending"}, "search", 200),
    Route("POST", "/v1/keys", {"name": "new", "scopes": ["search"], "catalogs": ["shop"]}, "admin", 201),
    Route("GET", "/v1/keys", None, "admin", 200),
    Route("DELETE", "/v1/keys/{victim}", None, "admin", 204),
    # The catalog write API (app/api/catalog_writes.py). Creating "shop", which exists: 409 once in.
    Route("POST", "/v1/catalogs/shop", None, "admin", 409),
    Route("DELETE", "/v1/catalogs/shop", None, "admin", 204),
    Route("POST", "/v1/catalogs/shop/products", [{"id": "new-bag", "title": "camera bag"}], "write", 200),
    Route("PATCH", "/v1/catalogs/shop/products/cam-eos", {"price": 1.0}, "write", 200),
    Route("DELETE", "/v1/catalogs/shop/products/cam-eos", None, "write", 204),
    Route("POST", "/v1/catalogs/shop/products/delete", {"ids": ["cam-eos"]}, "write", 200),
    Route("POST", "/v1/catalogs/shop/sync", {"ids": [p.id for p in SHOP]}, "write", 200),
]


@dataclass
class Stack:
    client: TestClient  # type: ignore[type-arg]
    store: MemoryControlStore
    tokens: dict[str, str]
    victim: str
    index: InMemoryVectorIndex
    products: dict[str, dict[str, str]]  # catalog -> id -> content hash, as the test began

    def call(self, route: Route, token: str | None, header: str = "authorization") -> Any:
        headers = {}
        if token is not None:
            headers = {header: f"Bearer {token}" if header == "authorization" else token}
        path = route.path.replace("{victim}", self.victim)
        return self.client.request(route.method, path, json=route.body, headers=headers)


def _index() -> InMemoryVectorIndex:
    index = InMemoryVectorIndex()
    asyncio.run(ingest(SHOP, "shop", HashingEmbedder(), index, model_id="m"))
    asyncio.run(ingest(SHOP[:5], "outlet", HashingEmbedder(), index, model_id="m"))
    return index


def _issue(store: MemoryControlStore, scopes: list[str], catalogs: list[str] | None, **limit: Any) -> str:
    return asyncio.run(KeyAdmin(store).create(ROOT, "k", scopes, catalogs, **limit)).token


def make_app(
    store: MemoryControlStore, index: InMemoryVectorIndex | None = None, **settings: Any
) -> Litestar:
    config = Settings(**{"auth": True, "admin_key": ADMIN, **settings})
    return create_app(config, Deps(embedder=HashingEmbedder(), index=index or _index(), store=store))


def _products(index: InMemoryVectorIndex) -> dict[str, dict[str, str]]:
    return {c.name: asyncio.run(index.fingerprints(c.name)) for c in asyncio.run(index.catalogs())}


@pytest.fixture
def stack() -> Iterator[Stack]:
    store = MemoryControlStore()
    tokens = {
        "search": _issue(store, ["search"], ["shop"]),
        "write": _issue(store, ["write"], ["shop"]),
        "admin": _issue(store, ["admin"], ["shop"]),
        "any": _issue(store, ["search"], ["shop"]),
        "all_but_search": _issue(store, ["write", "admin"], ["shop"]),
        "all_but_write": _issue(store, ["search", "admin"], ["shop"]),
        "all_but_admin": _issue(store, ["search", "write"], ["shop"]),
        "events": _issue(store, ["events"], ["shop"]),
        "all_but_events": _issue(store, ["search", "admin"], ["shop"]),  # `write` would grant events
        "other": _issue(store, ["search", "write", "admin"], ["outlet"]),
    }
    victim = asyncio.run(KeyAdmin(store).create(ROOT, "victim", ["search"], ["shop"])).key.id
    index = _index()
    with TestClient(make_app(store, index)) as client:
        yield Stack(client, store, tokens, victim, index, _products(index))


def _unchanged(stack: Stack) -> None:
    """No failed request wrote anything: no catalog or product created, changed or deleted, no map
    set, no event stored, the victim key alive, no key created."""
    assert _products(stack.index) == stack.products
    assert asyncio.run(stack.store.list_catalogs()) == []
    assert asyncio.run(stack.store.get("shop", "merchandiser")) is None
    assert asyncio.run(stack.store.events_after(0, 10)) == []
    victim = asyncio.run(stack.store.get_key(stack.victim))
    assert victim is not None
    assert victim.active
    assert len(asyncio.run(stack.store.list_keys())) == 11


def test_every_v1_route_is_in_the_matrix_and_declares_its_access(stack: Stack) -> None:
    app: Litestar = stack.client.app  # type: ignore[assignment]
    declared = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if route.path.startswith("/v1"):
                methods = sorted(handler.http_methods - {"OPTIONS", "HEAD"})
                for method in methods:
                    declared.add((method, route.path_format, handler.opt.get("access")))
    tested = {
        (
            r.method,
            r.path.replace("shop", "{catalog}")
            .replace("cam-eos", "{product_id}")
            .replace("{victim}", "{key_id}"),
            r.access,
        )
        for r in ROUTES
    }
    assert declared == tested


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_no_key_and_a_wrong_key_are_401_with_a_challenge(stack: Stack, route: Route) -> None:
    for token in (None, WRONG, "not-even-a-token", ADMIN + "x"):
        response = stack.call(route, token)
        assert response.status_code == 401, (token, response.text)
        assert response.headers["www-authenticate"] == 'Bearer realm="aisle"'
        body = response.json()
        assert body["error"] == "unauthenticated"
        assert body["request_id"] == response.headers["x-request-id"]
    _unchanged(stack)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_another_catalogs_key_reads_and_writes_nothing(stack: Stack, route: Route) -> None:
    response = stack.call(route, stack.tokens["other"])
    if route.catalog_bound:
        unknown = stack.call(
            Route(route.method, route.path.replace("/shop", "/nosuchcatalog"), route.body, route.access, 0),
            stack.tokens["other"],
        )
        assert response.status_code == 404, response.text
        assert unknown.status_code == 404
        strip = lambda r: {k: v for k, v in r.json().items() if k != "request_id"}  # noqa: E731
        assert strip(response) == {
            **strip(unknown),
            "message": strip(unknown)["message"].replace("nosuchcatalog", "shop"),
        }
    elif route.path == "/v1/catalogs":
        assert response.json() == {"catalogs": [{"name": "outlet", "product_count": 5}]}
    elif route.method == "POST":
        assert response.status_code == 403  # cannot grant a catalog beyond its own
    elif route.method == "GET":
        assert [k["catalogs"] for k in response.json()["keys"]] == [["outlet"]]  # itself; no shop key
    else:
        assert response.status_code == 404  # the victim is a shop key: as good as unknown
    _unchanged(stack)


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.access != "any"], ids=lambda r: f"{r.method} {r.path}"
)
def test_a_key_without_the_scope_is_403(stack: Stack, route: Route) -> None:
    response = stack.call(route, stack.tokens[f"all_but_{route.access}"])
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "forbidden"
    assert route.access in response.json()["message"]
    _unchanged(stack)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_the_right_key_is_served(stack: Stack, route: Route, header: str) -> None:
    response = stack.call(route, stack.tokens[route.access], header)
    assert response.status_code == route.ok, response.text
    assert stack.call(route, ADMIN, header).status_code in (route.ok, 404)  # bootstrap admin: everything


def test_key_lifecycle_over_http_secret_once_revocation_at_once(stack: Stack) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    created = stack.client.post(
        "/v1/keys",
        json={
            "name": "storefront",
            "scopes": ["search"],
            "catalogs": "*",
            "rate_limit": {"per_second": 5, "burst": 10},
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    token = body["key"]
    assert token.startswith(f"aisle_{body['id']}_")
    assert (body["catalogs"], body["scopes"], body["rate_limit"]) == (
        "*",
        ["search"],
        {"per_second": 5.0, "burst": 10},
    )
    listed = stack.client.get("/v1/keys", headers=admin).json()["keys"]
    assert token not in json.dumps(listed)
    assert all(
        set(k) == {"id", "name", "scopes", "catalogs", "created_at", "revoked_at", "rate_limit"}
        for k in listed
    )
    use = {"X-API-Key": token}
    assert stack.client.get("/v1/catalogs/outlet/products/cam-eos", headers=use).status_code == 200
    assert stack.client.delete(f"/v1/keys/{body['id']}", headers=admin).status_code == 204
    assert stack.client.delete(f"/v1/keys/{body['id']}", headers=admin).status_code == 204  # idempotent
    assert stack.client.get("/v1/catalogs/outlet/products/cam-eos", headers=use).status_code == 401
    assert stack.client.delete("/v1/keys/nosuchkeyx", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"name": "x", "scopes": ["search"]}, 422, "catalogs"),
        ({"name": "x", "scopes": [], "catalogs": "*"}, 422, "scopes"),
        ({"name": "x", "scopes": ["root"], "catalogs": "*"}, 422, "scopes"),
        ({"name": "", "scopes": ["search"], "catalogs": "*"}, 422, "name"),
        ({"name": "x", "scopes": ["search"], "catalogs": ["BAD..name"]}, 422, "catalogs[0]"),
        ({"name": "x", "scopes": ["search"], "catalogs": []}, 422, "catalogs"),
        ({"name": "x", "scopes": ["search"], "catalogs": "all"}, 422, "catalogs"),
        (
            {"name": "x", "scopes": ["search"], "catalogs": "*", "rate_limit": {"per_second": 0, "burst": 1}},
            422,
            "rate_limit.per_second",
        ),
        ({"name": "x", "scopes": ["search"], "catalogs": "*", "admin": True}, 422, None),
    ],
)
def test_bad_key_requests_are_a_422_naming_the_field(
    stack: Stack, payload: Any, status: int, field: str | None
) -> None:
    response = stack.client.post("/v1/keys", json=payload, headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == status, response.text
    if field is not None:
        assert response.json()["field"].startswith(field)


def test_a_bound_admin_cannot_escalate(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.tokens['admin']}"}
    for payload in (
        {"name": "x", "scopes": ["search"], "catalogs": "*"},
        {"name": "x", "scopes": ["search"], "catalogs": ["shop", "outlet"]},
    ):
        assert stack.client.post("/v1/keys", json=payload, headers=headers).status_code == 403
    ok = stack.client.post(
        "/v1/keys", json={"name": "x", "scopes": ["admin"], "catalogs": ["shop"]}, headers=headers
    )
    assert ok.status_code == 201


def test_rate_limit_is_a_429_with_retry_after_per_key() -> None:
    store = MemoryControlStore()
    default = _issue(store, ["search"], None)
    own = _issue(store, ["search"], None, rate_per_s=0.001, burst=1)
    with TestClient(make_app(store, rate_limit_rps=0.01, rate_limit_burst=3)) as client:
        statuses = [client.get("/v1/catalogs", headers={"X-API-Key": default}).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = client.get("/v1/catalogs", headers={"X-API-Key": default})
        assert limited.json()["error"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 100
        assert client.get("/v1/catalogs", headers={"X-API-Key": own}).status_code == 200  # its own bucket
        second = client.get("/v1/catalogs", headers={"X-API-Key": own})
        assert second.status_code == 429
        assert int(second.headers["retry-after"]) >= 900


def test_auth_off_serves_everyone_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    from app.log import configure_logging

    configure_logging("info", json=True)
    app = create_app(Settings(auth=False), Deps(embedder=HashingEmbedder(), index=_index()))
    with TestClient(app) as client:
        assert client.get("/v1/catalogs").status_code == 200
        assert (
            client.post("/v1/keys", json={"name": "x", "scopes": ["search"], "catalogs": "*"}).status_code
            == 201
        )
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    warning = next(x for x in lines if x["event"] == "auth_disabled")
    assert warning["level"] == "warning"
    assert "AISLE_AUTH=off" in warning["message"]


def _startup_error(app: Litestar) -> BaseException | None:
    """What the lifespan raised (the test client wraps it in an exception group)."""
    try:
        with TestClient(app):
            return None
    except BaseException as e:
        while isinstance(e, BaseExceptionGroup):
            e = e.exceptions[0]
        return e


def test_auth_on_refuses_to_start_without_an_admin_key() -> None:
    store = MemoryControlStore()
    app = create_app(Settings(auth=True), Deps(embedder=HashingEmbedder(), index=_index(), store=store))
    refused = _startup_error(app)
    assert isinstance(refused, SettingsError)
    assert "AISLE_ADMIN_KEY" in str(refused)
    _issue(store, ["search"], None)  # not an admin key
    assert isinstance(_startup_error(app), SettingsError)
    token = _issue(store, ["admin"], ["shop"])
    with TestClient(app) as client:  # an admin key in the store is enough
        assert client.get("/v1/keys", headers={"X-API-Key": token}).status_code == 200


def test_openapi_declares_the_schemes_and_401_403_429_on_every_protected_route(stack: Stack) -> None:
    schema = stack.client.get("/schema/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert schema["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if not path.startswith("/v1"):
                assert "security" not in operation, path
                continue
            assert operation["security"] == [{"bearer": []}, {"apiKey": []}], (method, path)
            codes = set(operation["responses"])
            assert {"401", "429"} <= codes, (method, path)
            if path != "/v1/catalogs":
                assert "403" in codes, (method, path)
            if "{catalog}" in path:
                assert "404" in codes
            ref = operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorBody")
    assert stack.client.get("/healthz").status_code == 200  # public
    assert stack.client.get("/readyz").status_code == 200


def test_cors_is_off_by_default_and_an_allow_list_when_configured() -> None:
    origin = {"Origin": "https://shop.example"}
    with TestClient(make_app(MemoryControlStore())) as client:
        response = client.get("/healthz", headers=origin)
        assert "access-control-allow-origin" not in response.headers
    with TestClient(make_app(MemoryControlStore(), cors_origins=("https://shop.example",))) as client:
        preflight = client.options(
            "/v1/catalogs/shop/search",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code in (200, 204), preflight.text
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        actual = client.post(
            "/v1/catalogs/shop/search", json={"query": "bag"}, headers={**origin, "X-API-Key": ADMIN}
        )
        assert actual.status_code == 200
        assert actual.headers["access-control-allow-origin"] == "https://shop.example"
        other = client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"
        patch = client.options(
            "/v1/catalogs/shop/products/cam-eos",
            headers={**origin, "Access-Control-Request-Method": "PATCH"},
        )
        assert patch.status_code in (200, 204), patch.text  # the write API's partial update
        assert "PATCH" in patch.headers["access-control-allow-methods"]


def test_the_request_log_names_the_key_never_the_secret(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.log import configure_logging

    configure_logging("info", json=True)
    token = stack.tokens["search"]
    stack.client.post("/v1/catalogs/shop/search", json={"query": "bag"}, headers={"X-API-Key": token})
    out = capsys.readouterr().out
    line = next(json.loads(x) for x in out.splitlines() if '"request"' in x)
    assert line["key_id"] == token.split("_")[1]
    assert token not in out
    assert token.split("_", 2)[2] not in out


def test_a_merchandiser_map_put_with_a_write_key_is_used_by_a_search_key(stack: Stack) -> None:
    put = stack.client.put(
        "/v1/catalogs/shop/complements",
        json={"complements": {"cameras": ["bags"]}},
        headers={"X-API-Key": stack.tokens["write"]},
    )
    assert put.status_code == 200
    assert asyncio.run(stack.store.get("shop", "merchandiser")) == ComplementMap(
        "merchandiser", {"cameras": ("bags",)}, "api"
    )
