"""The typed client covers every route: each operation of the app's OpenAPI schema has a builder
in aisle/client/routes.py that calls it (same method, same path), no builder calls a route the
app lacks, and both clients have a method sending each builder's call. A route added to the app
without a client call fails here (docs/integrations.md, "Adding a route to the client")."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest

from aisle.client import Aisle, AsyncAisle, routes
from aisle.client.call import Call
from tests.client_stack import make_app

pytestmark = pytest.mark.e2e
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _builders() -> dict[str, Callable[..., Call[Any]]]:
    return {
        name: fn
        for name, fn in inspect.getmembers(routes, inspect.isfunction)
        if fn.__module__ == routes.__name__ and not name.startswith("_")
    }


def _sample(parameter: inspect.Parameter) -> Any:
    """A stand-in argument: builders only place their arguments into a path and a body."""
    annotation = str(parameter.annotation)
    if annotation == "str":
        return "x"
    if annotation == "bool":
        return False
    if annotation.startswith("Sequence"):
        return []
    return None


def _called(build: Callable[..., Call[Any]]) -> tuple[str, str]:
    parameters = inspect.signature(build).parameters.values()
    positional = [_sample(p) for p in parameters if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    if "body" in inspect.signature(build).parameters:  # sync reads body.dry_run
        positional = [p if p is not None else _Body() for p in positional]
    call = build(*positional)
    return call.method, call.path.partition("?")[0]


class _Body:
    dry_run = False


def _operations() -> set[tuple[str, str]]:
    schema = make_app().openapi_schema
    assert schema.paths
    return {
        (method.upper(), path)
        for path, item in schema.paths.items()
        for method in _METHODS
        if getattr(item, method, None) is not None
    }


def _matches(operation: tuple[str, str], call: tuple[str, str]) -> bool:
    method, template = operation
    pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
    return call[0] == method and re.match(pattern, call[1]) is not None


def test_every_route_of_the_app_has_a_client_call_and_no_call_is_stale() -> None:
    calls = {name: _called(build) for name, build in _builders().items()}
    operations = _operations()
    uncovered = sorted(op for op in operations if not any(_matches(op, c) for c in calls.values()))
    stale = sorted(n for n, c in calls.items() if not any(_matches(op, c) for op in operations))
    assert not uncovered, f"routes without a client call (add one to aisle/client/routes.py): {uncovered}"
    assert not stale, f"client calls to no route of the app: {stale}"
    # Each operation is one builder: a route whose path is a prefix of another still counts once.
    assert len(operations) == len(calls)


@pytest.mark.parametrize("client", [Aisle, AsyncAisle], ids=lambda c: c.__name__)
def test_each_call_has_a_method_in_each_client(client: type) -> None:
    sent = set()
    for name, member in inspect.getmembers(client, inspect.isfunction):
        if not name.startswith("_"):
            sent |= set(re.findall(r"routes\.(\w+)\(", inspect.getsource(member)))
    assert sent == set(_builders())
