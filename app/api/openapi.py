"""The served OpenAPI document is the API's truth: `document(app)` runs once in `create_app`, on
litestar's generated schema (which the schema routes then serve), and fixes what litestar cannot
know or drops.

- Bodies: every msgspec Struct of the wire contract (app/api/dto.py) is described by msgspec's own
  JSON Schema, which keeps what litestar's loses (items' lengths, nested constraints, patterns).
- Errors: each operation declares every error status it can give, with the real body (`ErrorBody`:
  error, message, field, request_id), derived from the operation itself by the rules in
  `ERROR_RULES`: the one place to add a status (auth's 401/403 and a rate limit's 429 are a rule
  each). A status a handler declares itself (`responses=`) is kept.
- Streams: a handler with `opt={"stream": "text/event-stream", "json": SomeStruct}` answers 200 as
  JSON or as that stream; both are declared.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, cast

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, Operation, Reference, Schema
from litestar.routes import HTTPRoute

from app.api import catalog_dto, dto, events_dto

_REF = "#/components/schemas/{name}"
ERROR_BODY = "ErrorBody"

# status -> what it means here (the `error` codes the body can carry).
ERROR_STATUSES: dict[int, str] = {
    400: "Malformed JSON (`malformed_json`), or nested deeper than the limit (`too_deeply_nested`)",
    404: "Unknown catalog or product (`not_found`)",
    413: "Request body over the route's size limit (`body_too_large`)",
    422: "The request breaks the schema or a rule; `field` names what (`invalid_request`)",
    500: "A bug: nothing leaks but the request id, quote it (`internal_error`)",
    503: "At capacity (`overloaded`, with Retry-After) or a dependency is down (`unavailable`)",
}

Rule = Callable[[HTTPRouteHandler, Operation], bool]


def _has_body(_handler: HTTPRouteHandler, operation: Operation) -> bool:
    return operation.request_body is not None


def _has_path_params(_handler: HTTPRouteHandler, operation: Operation) -> bool:
    return any(getattr(p, "param_in", None) == "path" for p in operation.parameters or [])


def _admitted(handler: HTTPRouteHandler, _operation: Operation) -> bool:
    return handler.opt.get("admission") is not False  # app/api/admission.py


def _always(_handler: HTTPRouteHandler, _operation: Operation) -> bool:
    return True


# Which operations can give which error statuses. Add a rule here (and a row above) for a new kind.
ERROR_RULES: tuple[tuple[Rule, tuple[int, ...]], ...] = (
    (_always, (500,)),
    (_admitted, (503,)),
    (_has_body, (400, 413, 422)),
    (_has_path_params, (404, 422)),
)


def _wire_structs() -> list[type[msgspec.Struct]]:
    return [
        obj
        for module in (dto, catalog_dto, events_dto)
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, msgspec.Struct) and obj.__module__ == module.__name__
    ]


def _components(openapi: OpenAPI) -> None:
    _, schemas = msgspec.json.schema_components(_wire_structs(), ref_template=_REF)
    assert openapi.components.schemas is not None
    registry = cast(dict[str, Any], openapi.components.schemas)
    for name, schema in schemas.items():
        schema.pop("title", None)
        registry[name] = schema  # plain dicts serialise as they are


def _error_response(status: int) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=ERROR_STATUSES[status],
        content={"application/json": OpenAPIMediaType(schema=Reference(_REF.format(name=ERROR_BODY)))},
    )


def _litestars_own(response: OpenAPIResponse | Reference) -> bool:
    """litestar adds a 400 with its ValidationException body (`status_code`, `detail`), not ours."""
    if not isinstance(response, OpenAPIResponse) or not response.content:
        return False
    media = response.content.get("application/json")
    schema = media.schema if media else None
    return isinstance(schema, Schema) and schema.description == "Validation Exception"


def _stream(handler: HTTPRouteHandler, operation: Operation) -> None:
    media_type = handler.opt.get("stream")
    body = handler.opt.get("json")
    if not media_type or operation.responses is None:
        return
    ok = cast(OpenAPIResponse, operation.responses["200"])
    ok.description = f"JSON, or with `stream: true` a stream of {media_type}"
    content = dict(ok.content or {})
    if body is not None:
        content["application/json"] = OpenAPIMediaType(schema=Reference(_REF.format(name=body.__name__)))
    content[media_type] = OpenAPIMediaType(
        schema=Schema(type=cast(Any, "string"), description="Server-Sent Events: items, token..., done")
    )
    ok.content = content


def _operations(app: Litestar, openapi: OpenAPI) -> list[tuple[HTTPRouteHandler, Operation]]:
    out = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or openapi.paths is None:
            continue
        item = openapi.paths.get(route.path_format or "/")
        for handler in route.route_handlers:
            if item is None or not handler.resolve_include_in_schema():
                continue
            for method in handler.http_methods:
                operation = getattr(item, method.lower(), None)
                if isinstance(operation, Operation):
                    out.append((handler, operation))
    return out


def document(app: Litestar) -> None:
    openapi = app.openapi_schema
    _components(openapi)
    for handler, operation in _operations(app, openapi):
        responses = operation.responses if operation.responses is not None else {}
        for rule, statuses in ERROR_RULES:
            if not rule(handler, operation):
                continue
            for status in statuses:
                key = str(status)
                if key not in responses or _litestars_own(responses[key]):
                    responses[key] = _error_response(status)
        operation.responses = dict(sorted(responses.items()))
        _stream(handler, operation)
