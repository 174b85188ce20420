"""No log line carries credentials, secret headers or frame locals: ours, a 500's, a library's."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import fields, replace

import pytest
from litestar.testing import TestClient

from app.domain.models import Product, VectorQuery
from app.log import configure_logging
from app.main import Deps, create_app
from app.settings import Settings
from embeddings.ingest import ingest
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

pytestmark = pytest.mark.e2e
SECRET = "s3cr3t-Pa55"
HEADERS = {"Authorization": f"Bearer {SECRET}", "Cookie": f"session={SECRET}", "X-API-Key": SECRET}


@pytest.fixture(autouse=True)
def _json_logs() -> None:
    configure_logging("info", json=True)  # conftest removes its root handler afterwards


class BuggyIndex(InMemoryVectorIndex):
    """A bug, not an outage: a plain exception the error table has no row for."""

    async def query(self, catalog: str, query: VectorQuery) -> list[object]:  # type: ignore[override]  # noqa: ARG002 - the port's signature
        headers = dict(HEADERS)  # a local holding the secret, as litestar's frames hold the scope
        raise RuntimeError(f"boom with {len(headers)} headers")


def test_a_500_log_line_has_no_locals_and_no_header_values(capsys: pytest.CaptureFixture[str]) -> None:
    index = BuggyIndex()
    asyncio.run(ingest([Product(id="a", title="speaker")], "shop", HashingEmbedder(), index, model_id="m"))
    with TestClient(create_app(Settings(), Deps(HashingEmbedder(), index))) as client:
        response = client.post("/v1/catalogs/shop/search", json={"query": "speaker"}, headers=HEADERS)
    assert response.status_code == 500
    assert SECRET not in response.text
    out = capsys.readouterr().out
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    error = next(x for x in lines if x["event"] == "unhandled_error")
    assert error["exception"][0]["exc_type"] == "RuntimeError"  # the traceback is there...
    assert all("locals" not in frame for frame in error["exception"][0]["frames"])  # ...its locals not
    assert SECRET not in out
    assert len(out) < 20_000


@pytest.mark.parametrize("name", [f.name for f in fields(Settings) if f.type in ("str | None", "str")])
def test_every_url_shaped_setting_is_logged_without_its_password(name: str) -> None:
    settings = replace(Settings(), **{name: f"redis://user:{SECRET}@host:6379/0?token={SECRET}"})
    redacted = json.dumps(settings.redacted())
    assert SECRET not in redacted


def test_secret_named_settings_are_masked() -> None:
    settings = Settings(llm_api_key=SECRET, qdrant_api_key=SECRET)
    assert SECRET not in json.dumps(settings.redacted())


def test_the_startup_line_masks_every_url(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(
        redis_url=f"redis://:{SECRET}@127.0.0.1:1/0",
        llm_base_url=f"http://user:{SECRET}@llm.test/v1",
        qdrant_url=f"https://admin:{SECRET}@qdrant.test",
    )
    with TestClient(create_app(settings, Deps(HashingEmbedder(), InMemoryVectorIndex()))):
        pass
    out = capsys.readouterr().out
    assert '"startup"' in out
    assert SECRET not in out


def test_library_loggers_write_json_lines_scrubbed_and_httpx_info_is_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logging.getLogger("httpx").info("HTTP Request: POST http://user:%s@llm.test/v1/chat", SECRET)
    logging.getLogger("uvicorn.error").warning("upstream http://u:%s@h/ said no", SECRET)
    logging.getLogger("litestar").error("failed", extra={"headers": {"authorization": SECRET}})
    out = capsys.readouterr().out
    lines = [json.loads(x) for x in out.splitlines()]  # every line is JSON
    assert [x["logger"] for x in lines] == ["uvicorn.error", "litestar"]  # httpx INFO is below WARNING
    assert lines[0]["event"] == "upstream http://u:***@h/ said no"
    assert SECRET not in out


def test_our_own_lines_are_scrubbed_too(capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    structlog.get_logger("aisle").info(
        "x", url=f"postgresql://app:{SECRET}@db/aisle", headers={"Authorization": SECRET, "Accept": "*/*"}
    )
    line = json.loads(capsys.readouterr().out)
    assert line["url"] == "postgresql://app:***@db/aisle"
    assert line["headers"] == {"Authorization": "***", "Accept": "*/*"}


def test_the_console_renderer_shows_no_locals_either(capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    configure_logging("info", json=False)  # a terminal: what `aisle ingest` prints there

    def fail(token: str) -> None:  # noqa: ARG001 - a local holding the secret is the point
        raise RuntimeError("boom")

    try:
        fail(SECRET)
    except RuntimeError as e:
        structlog.get_logger("aisle").error("failed", exc_info=e)
    out = capsys.readouterr().out
    assert "RuntimeError: boom" in out
    assert SECRET not in out
