"""The domain error tree. Adapters translate vendor exceptions into these at their edge
(`raise IndexUnavailable(...) from e`); the HTTP layer maps them to status codes in one table
(app/api/errors.py)."""

from __future__ import annotations


class AisleError(Exception):
    """Base of every error Aisle raises on purpose."""


class InvalidRequest(AisleError):
    """The caller asked for something malformed or contradictory (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(AisleError):
    """Something the caller named does not exist (HTTP 404)."""


class CatalogNotFound(NotFound):
    def __init__(self, catalog: str) -> None:
        super().__init__(f"catalog {catalog!r} does not exist")
        self.catalog = catalog


class ProductNotFound(NotFound):
    def __init__(self, catalog: str, product_ids: list[str]) -> None:
        joined = ", ".join(repr(p) for p in product_ids)
        super().__init__(f"product(s) {joined} not found in catalog {catalog!r}")
        self.catalog = catalog
        self.product_ids = product_ids


class DependencyUnavailable(AisleError):
    """A backing service failed (HTTP 503): the request may succeed if retried later."""


class IndexUnavailable(DependencyUnavailable):
    """The vector index could not be reached or answered with an error."""


class EmbedderUnavailable(DependencyUnavailable):
    """The embedding model is not loaded or failed."""


class RankerUnavailable(AisleError):
    """The learned ranking model cannot be loaded. Never reaches the client: the ranking stage
    serves the retrieval order and names the reason as its fallback."""


class IndexIncompatible(AisleError):
    """A catalog exists with a vector size other than the embedder's (a model change needs a re-ingest)."""


class LLMUnavailable(DependencyUnavailable):
    """The LLM stage could not produce a usable answer. Never reaches the client as an error: the
    LLM stage catches it and returns the vector result flagged with `reason`."""

    reason = "llm_error"


class LLMTimeout(LLMUnavailable):
    reason = "timeout"


class LLMConnectionError(LLMUnavailable):
    reason = "connection_error"


class LLMRateLimited(LLMUnavailable):
    reason = "rate_limited"

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LLMServerError(LLMUnavailable):
    reason = "server_error"


class LLMRejected(LLMUnavailable):
    """A 4xx other than 429: our request is wrong (bad model name, key, schema); retrying won't help."""

    reason = "rejected"


class LLMInvalidOutput(LLMUnavailable):
    """The answer was not usable: not JSON, wrong shape, no valid candidate id, empty, refused."""

    reason = "invalid_output"


class LLMUngrounded(LLMInvalidOutput):
    """The answer was well-formed but states what the facts do not support (app/domain/grounding.py):
    a reply naming a product it did not return, a search text the shopper never said, an answer
    quoting its instructions. Not re-asked; `reason` is the fallback (`ungrounded_reply`,
    `ungrounded_intent`, `prompt_echo`), `check` the grounding check that failed."""

    def __init__(self, reason: str, check: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.check = check


class Unauthenticated(AisleError):
    """No API key, or one that is unknown, malformed or revoked (HTTP 401)."""


class Forbidden(AisleError):
    """The key is valid but lacks the scope the route needs (HTTP 403). A catalog the key is not
    bound to is reported as CatalogNotFound instead, so a key cannot learn which catalogs exist."""


class RateLimited(AisleError):
    """The key spent its token bucket (HTTP 429 with Retry-After)."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"rate limit exceeded; retry in {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


class AlreadyExists(AisleError):
    """Something the caller asked to create exists already (HTTP 409)."""


class StoreUnavailable(DependencyUnavailable):
    """The control-plane store (SQLite or PostgreSQL) could not be read or written."""


class StoreIncompatible(AisleError):
    """The store's schema disagrees with this code: an applied migration was edited afterwards."""
