"""structlog configuration: JSON lines when not on a terminal, a console renderer on one.

Request context (request id, route, catalog, timings) is bound in contextvars at the edge and
merged into every line, so the canonical request line needs no plumbing through the use cases.

Every line, ours or a library's (uvicorn, httpx, openai, qdrant, litestar log through the standard
`logging` module: the root handler formats them with the same processors), passes `scrub`:
credentials inside URLs are masked and values under header-like keys (Authorization, Cookie,
API keys) are dropped. Exceptions are rendered without frame locals: a frame's locals hold the
request's headers, and a traceback's text is all an operator needs.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@'\"]+)@")
_SECRET_KEYS = re.compile(
    r"^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api[_-]?key|password|secret|token)$",
    re.IGNORECASE,
)
# Noisy or URL-carrying libraries: httpx/httpcore log every upstream request line (with its URL)
# at INFO, and a request line per LLM call is not an operator's signal.
LIBRARY_LEVELS = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "openai": logging.WARNING,
    "urllib3": logging.WARNING,
    "qdrant_client": logging.WARNING,
    "uvicorn.access": logging.WARNING,
}
_HANDLER_NAME = "aisle-json"


def _mask_userinfo(match: re.Match[str]) -> str:
    user, has_password, _ = match.group("userinfo").partition(":")
    return f"{match.group('scheme')}{user}:***@" if has_password else f"{match.group('scheme')}***@"


def _scrub_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub(_mask_userinfo, value) if "@" in value else value
    if depth > 8:
        return value
    if isinstance(value, Mapping):
        return {
            k: "***" if isinstance(k, str) and _SECRET_KEYS.match(k) else _scrub_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_scrub_value(v, depth + 1) for v in value)
    return value


def scrub(_logger: object, _method: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    """No line carries a credential: masked in URLs, dropped under header-like keys."""
    scrubbed: structlog.types.EventDict = _scrub_value(event_dict)
    return scrubbed


# show_locals=False: structlog's default puts every frame's locals (a request's headers among them)
# into the line; locals_max_* are moot then, set small in case a later default flips.
_exception_dict = structlog.processors.ExceptionRenderer(
    ExceptionDictTransformer(show_locals=False, locals_max_length=0, locals_max_string=0)
)


def _processors(use_json: bool) -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _exception_dict if use_json else structlog.processors.format_exc_info,
        scrub,
    ]


def _renderer(use_json: bool) -> structlog.types.Processor:
    if use_json:
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to `sys.stdout` as it is at each call, like structlog's PrintLoggerFactory."""

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(level: str = "info", json: bool | None = None) -> None:
    use_json = (not sys.stdout.isatty()) if json is None else json
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*_processors(use_json), _renderer(use_json)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(),  # sys.stdout as it is at each call
        cache_logger_on_first_use=False,
    )
    handler = _StdoutHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *_processors(use_json)],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(use_json)],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name, floor in LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(max(floor, numeric))
