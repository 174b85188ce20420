"""The OpenAPI document is the truth: schemathesis generates requests for every operation the app
declares (so a route added later is covered without editing this file) and checks each answer
against the schema (status code declared, body and content type as declared, no 5xx, bad input
rejected, valid input accepted), against a real uvicorn server on the in-memory fakes.

Bounded and repeatable: a fixed number of examples per operation, derandomized (Hypothesis
derives its seed from the test), no deadline (the machine is shared)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig

from app.domain.models import Product
from app.main import Deps, create_app
from app.settings import Settings
from embeddings.ingest import ingest
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

# The bulk upsert's NDJSON body has no serializer here, so schemathesis skips it (and says so):
# as text on the wire every generated value is a well-formed body, which makes "schema-violating"
# cases meaningless. tests/e2e/test_catalog_writes_api.py covers NDJSON; the JSON form is generated.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Skipped test cases with unsupported payload media types"),
]
EXAMPLES_PER_OPERATION = 40
ADMIN_KEY = "schemathesis-admin-key-0123456789abcdef"

PRODUCTS = [
    Product(id="spk1", title="portable bluetooth speaker", brand="JBL", category="Speakers", price=49.0),
    Product(id="cbl1", title="usb c cable", brand="Anker", category="Cables", price=9.0),
]

# Schema-valid input may still break a rule JSON Schema cannot state (price_min <= price_max, a pin
# that is also an anchor, a conversation whose last turn is the shopper's and not blank): those are
# 422s naming the field, so positive-data acceptance allows 422 beside 2xx and 404 (an unknown
# catalog or product), and 409 (creating a catalog that exists, a full sync its guard refuses).
# Schema-invalid input must still be refused, and every 4xx body must match the declared ErrorBody.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "404", "409", "422"]}}}
)
# The schema comes from the app itself (no server needed to collect the tests); requests go to a
# real server below.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi_schema.to_schema(), config=CONFIG)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    index = InMemoryVectorIndex()
    asyncio.run(ingest(PRODUCTS, "icecat", HashingEmbedder(), index, model_id="m"))  # the schema's example
    # Auth on, as in production: the schema declares bearer auth on every /v1 route, and schemathesis
    # checks that a request without valid credentials is refused (the admin key below passes every
    # scope; rate limiting is off so generated bursts stay answers the schema describes as success).
    settings_ = Settings(max_in_flight=64, max_queue=64, auth=True, admin_key=ADMIN_KEY, rate_limit_rps=0.0)
    app = create_app(settings_, Deps(HashingEmbedder(), index))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(10)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_schema_says(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"})


def test_every_route_of_the_app_is_in_the_schema() -> None:
    declared = {
        (method.upper(), path)
        for path, item in create_app(Settings()).openapi_schema.to_schema()["paths"].items()
        for method in item
    }
    app = create_app(Settings())
    routed = {
        (method, route.path_format)
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if handler.resolve_include_in_schema()
        for method in handler.http_methods
        if method not in ("HEAD", "OPTIONS")
    }
    assert routed <= declared
