"""The typed client's own rules, over httpx's mock transport: when it retries (only where safe,
honouring Retry-After, within the total timeout), how a response becomes an error, where the key
comes from, and that a stream cut short is an error rather than a silent end."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from aisle.client import (
    Aisle,
    AisleError,
    AsyncAisle,
    BadRequest,
    ConnectFailed,
    Invalid,
    NetworkError,
    NotFound,
    RateLimited,
    ServerError,
    Timeout,
    Unavailable,
    request,
)
from aisle.client._core import Options
from aisle.client._retry import Retries, retryable
from aisle.client.errors import error_for

Handler = Callable[[httpx.Request], httpx.Response]
BASE = "http://aisle.test"
CATALOGS = {"catalogs": [{"name": "shop", "product_count": 3}]}
SEARCH = {"items": [], "ranking": "vector", "fallback": None, "cache": None, "timings_ms": {}}
KEY = {
    "key": "secret",
    "id": "k1",
    "name": "n",
    "scopes": ["search"],
    "catalogs": "*",
    "created_at": "2026-01-01T00:00:00Z",
    "rate_limit": None,
}


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AISLE_API_KEY", raising=False)
    monkeypatch.delenv("AISLE_URL", raising=False)


class Script:
    """Answers each request with the next response (or raises the next exception), recording all."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(script: Script, **options: object) -> Aisle:
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(script))
    return Aisle(http_client=http, **{"api_key": "k", **options})  # type: ignore[arg-type]


def error(status: int, code: str = "x", field: str | None = None, **headers: str) -> httpx.Response:
    body = {"error": code, "message": f"{code} happened", "field": field, "request_id": "r1"}
    return httpx.Response(status, json=body, headers=headers)


def no_jitter() -> Retries:
    return Retries(max_retries=2, jitter=lambda: 0.0)


# --- the policy ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "safe", "retried"),
    [
        (ConnectFailed("refused"), False, True),  # nothing was sent: any call
        (RateLimited("slow down", status=429), False, True),  # refused before anything was done
        (Unavailable("down", status=503), True, True),
        (Unavailable("down", status=503), False, False),  # a key creation might have happened
        (Timeout("slow"), True, True),
        (Timeout("slow"), False, False),
        (NetworkError("reset"), True, True),
        (NotFound("no", status=404), True, False),
        (Invalid("bad", status=422), True, False),
        (ServerError("bug", status=500), True, False),
    ],
)
def test_what_is_retried(error: AisleError, safe: bool, retried: bool) -> None:
    assert retryable(error, retry_safe=safe) is retried


def test_waits_honour_retry_after_back_off_and_never_pass_the_deadline() -> None:
    retries = Retries(max_retries=3, backoff_s=0.5, max_backoff_s=1.5, jitter=lambda: 1.0)
    down = Unavailable("down", status=503)
    assert [retries.delay(n, down, retry_safe=True, remaining_s=60) for n in (1, 2, 3, 4)] == [
        0.5,
        1.0,
        1.5,
        None,
    ]
    later = RateLimited("slow", status=429, retry_after=7.0)
    assert retries.delay(1, later, retry_safe=False, remaining_s=60) == 7.0
    assert retries.delay(1, later, retry_safe=False, remaining_s=5) is None  # would end past the deadline


# --- errors ----------------------------------------------------------------------------------------


def test_the_error_body_becomes_its_exception() -> None:
    invalid = error_for(422, b'{"error":"invalid_request","message":"bad","field":"limit","request_id":"r9"}')
    assert isinstance(invalid, Invalid)
    assert (invalid.field, invalid.code, invalid.request_id) == ("limit", "invalid_request", "r9")
    limited = error_for(429, b'{"error":"rate_limited","message":"slow"}', "3")
    assert isinstance(limited, RateLimited)
    assert limited.retry_after == 3.0
    assert isinstance(error_for(400, b"{}"), BadRequest)  # not Aisle's body: still the status's error
    proxy = error_for(502, b"<html>Bad Gateway</html>")
    assert isinstance(proxy, Unavailable)
    assert "Bad Gateway" in str(proxy)
    assert type(error_for(500, b"")) is ServerError
    assert type(error_for(418, b"")) is AisleError
    assert error_for(503, b"", "Fri, 01 Jan 2027 00:00:00 GMT").retry_after is None


# --- retries over the wire -------------------------------------------------------------------------


def test_a_read_is_retried_on_503_and_a_connection_failure() -> None:
    script = Script(error(503), httpx.ConnectError("refused"), httpx.Response(200, json=SEARCH))
    aisle = client(script, retries=no_jitter())
    assert aisle.search("shop", "camera").items == []
    assert len(script.requests) == 3
    assert all(r.headers["authorization"] == "Bearer k" for r in script.requests)


def test_a_key_creation_is_not_retried_on_503_but_is_when_nothing_was_sent() -> None:
    script = Script(error(503))
    with pytest.raises(Unavailable):
        client(script).create_key("agent", ["search"])
    assert len(script.requests) == 1
    script = Script(httpx.ConnectError("refused"), httpx.Response(201, json=KEY))
    aisle = client(script, retries=no_jitter())
    assert aisle.create_key("agent", ["search"]).id == "k1"
    assert len(script.requests) == 2


def test_max_retries_bounds_the_attempts() -> None:
    script = Script(error(503), error(503), error(503), error(503))
    aisle = client(script, retries=no_jitter())
    with pytest.raises(Unavailable) as down:
        aisle.catalogs()
    assert len(script.requests) == 3
    assert down.value.request_id == "r1"


def test_a_timeout_becomes_timeout_and_the_total_timeout_bounds_the_call() -> None:
    script = Script(httpx.ReadTimeout("slow"))
    with pytest.raises(Timeout):
        client(script, max_retries=0).catalogs()
    with pytest.raises(ValueError, match="positive"):
        Aisle(total_timeout=0)


def test_a_200_that_is_not_the_type_is_an_error_not_a_crash() -> None:
    script = Script(httpx.Response(200, json={"catalogs": "many"}))
    with pytest.raises(AisleError, match="unexpected response"):
        client(script).catalogs()


def test_unknown_fields_from_a_newer_server_are_ignored() -> None:
    newer = {"catalogs": [{"name": "shop", "product_count": 3, "created_at": "2027-01-01"}], "next": None}
    assert client(Script(httpx.Response(200, json=newer))).catalogs()[0].name == "shop"


def test_the_generic_helper_reaches_a_route_without_a_method() -> None:
    script = Script(httpx.Response(200, json={"ok": True}))
    assert client(script).send(request("POST", "/v1/catalogs/shop/events", {"type": "view"})) == {"ok": True}
    assert script.requests[0].content == b'{"type":"view"}'
    assert script.requests[0].headers["content-type"] == "application/json"


def test_path_parameters_are_encoded() -> None:
    script = Script(error(404, "not_found"))
    with pytest.raises(NotFound):
        client(script).product("shop", "a b?c#d")
    assert script.requests[0].url.raw_path == b"/v1/catalogs/shop/products/a%20b%3Fc%23d"


# --- configuration ---------------------------------------------------------------------------------


def test_the_key_and_url_come_from_the_arguments_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AISLE_API_KEY", "from-env")
    monkeypatch.setenv("AISLE_URL", "http://aisle.internal:9000/")
    options = Options.resolve(None, None, timeout=1, total_timeout=2, retries=Retries(), headers=None)
    assert (options.base_url, options.api_key) == ("http://aisle.internal:9000", "from-env")
    assert (
        Options.resolve(
            "http://x", "arg", timeout=1, total_timeout=2, retries=Retries(), headers=None
        ).api_key
        == "arg"
    )
    assert "from-env" not in repr(options)


def test_a_per_call_key_replaces_the_clients() -> None:
    script = Script(httpx.Response(200, json=CATALOGS))
    aisle = client(script)
    from aisle.client import routes

    aisle.send(routes.catalogs(), api_key="caller")
    assert script.requests[0].headers["authorization"] == "Bearer caller"


# --- streams ---------------------------------------------------------------------------------------


def sse(*events: tuple[str, str]) -> httpx.Response:
    body = "".join(f"event: {name}\ndata: {data}\n\n" for name, data in events)
    return httpx.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})


ITEMS = '{"items":[],"intent":{"query":"q","filters":{},"sort":"relevance","source":"parser"},"ranking":"vector","fallback":null,"timings_ms":{}}'


def test_a_stream_cut_before_done_is_an_error() -> None:
    script = Script(sse(("items", ITEMS), ("token", '{"text":"Hi"}')))
    events = []
    with pytest.raises(NetworkError, match="before its `done`"):
        events.extend(client(script).assistant_stream("shop", [{"role": "user", "content": "hi"}]))
    assert len(events) == 2


async def test_an_unknown_event_is_skipped_and_an_error_before_the_stream_is_raised() -> None:
    done = '{"reply":"Hi","items":[],"intent":{"query":"q","filters":{},"sort":"s","source":"parser"},"ranking":"vector","fallback":null,"timings_ms":{}}'
    script = Script(
        error(422, "invalid_request", "limit"), sse(("items", ITEMS), ("ping", "{}"), ("done", done))
    )
    http = httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(script))
    async with AsyncAisle(http_client=http) as aisle:
        with pytest.raises(Invalid):
            [e async for e in aisle.assistant_stream("shop", [{"role": "user", "content": "hi"}], limit=99)]
        events = [e async for e in aisle.assistant_stream("shop", [{"role": "user", "content": "hi"}])]
    assert [type(e).__name__ for e in events] == ["ItemsReady", "Done"]
    assert script.requests[0].headers["accept"] == "text/event-stream"
