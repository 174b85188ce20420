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


class IndexIncompatible(AisleError):
    """A catalog exists with a vector size other than the embedder's (a model change needs a re-ingest)."""
