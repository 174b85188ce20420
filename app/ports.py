"""The ports: small Protocols Aisle owns, named by role. Adapters live in app/adapters/.

Adding a vector store means one adapter file implementing `VectorIndex`, one fixture in the
contract suite (tests/integration/test_vector_index_contract.py) and one line in the composition root.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from app.domain.complements import ComplementMap, ComplementSource
from app.domain.control_plane import ApiKey, CatalogSettings, RateLimit
from app.domain.llm import LLMRequest, LLMResponse
from app.domain.models import CatalogInfo, FacetField, IndexRecord, ScoredProduct, VectorQuery

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of `dimension` floats (so cosine == dot product)."""

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Blocking and CPU-bound: async callers run it in a worker thread."""
        ...


class VectorIndex(Protocol):
    """Per-catalog storage and retrieval of product vectors with their payload.

    Larger than the other ports because ingestion needs writes and fingerprints as well as reads;
    every method is needed by a use case, and the contract suite pins each one's behaviour.
    """

    async def query(self, catalog: str, query: VectorQuery) -> list[ScoredProduct]:
        """Nearest products by cosine similarity, best first, honouring `query.filters`.
        Raises CatalogNotFound for an unknown catalog."""
        ...

    async def retrieve(self, catalog: str, ids: Sequence[str]) -> list[IndexRecord]:
        """The stored records (with vectors) of those ids that exist, in no particular order."""
        ...

    async def catalogs(self) -> list[CatalogInfo]: ...

    async def facet(self, catalog: str, field: FacetField, limit: int = 1000) -> dict[str, int]:
        """Distinct values of `field` (as filter keys: case-folded) with their product counts, the
        most common first: the catalog's real vocabulary, which LLM output is validated against."""
        ...

    async def ensure_catalog(self, catalog: str, dimension: int) -> None:
        """Create the catalog if missing; raise IndexIncompatible if it exists with another dimension."""
        ...

    async def upsert(self, catalog: str, records: Sequence[IndexRecord]) -> None: ...

    async def delete(self, catalog: str, ids: Sequence[str]) -> None: ...

    async def fingerprints(self, catalog: str) -> dict[str, str]:
        """product id -> content hash for every stored product (incremental ingestion reads this)."""
        ...

    async def optimize(self, catalog: str) -> None:
        """Build what the engine builds lazily (HNSW); a no-op where the engine does it itself."""
        ...

    async def close(self) -> None: ...


class LLMClient(Protocol):
    """One chat completion. Raises an `LLMUnavailable` subclass (timeout, rate limit, server error,
    connection error, rejected, invalid output); never retries: the LLM stage owns retries."""

    @property
    def model(self) -> str: ...

    async def complete(self, request: LLMRequest) -> LLMResponse: ...

    async def close(self) -> None: ...


class ComplementStore(Protocol):
    """Per-catalog complement maps by source ("merchandiser", "learned"); None when none is set."""

    async def get(self, catalog: str, source: ComplementSource) -> ComplementMap | None: ...

    async def put(self, catalog: str, value: ComplementMap) -> None: ...


class Ranker(Protocol):
    """A learned ranking model: one score per feature row (higher ranks first). `features` names
    the columns it was trained on, in order (app/ranking/features.py); `version` identifies it."""

    @property
    def version(self) -> str: ...

    @property
    def features(self) -> tuple[str, ...]: ...

    def score(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """Blocking and CPU-bound; the ranking stage calls it in a worker thread."""
        ...


class Cache(Protocol):
    """Bytes by key with a time to live. Implementations never raise on a backend failure: a
    cache that cannot answer is a miss."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def close(self) -> None: ...


class KeyStore(Protocol):
    """API keys by id; only hashes of their secrets. Raises StoreUnavailable when unreachable."""

    async def add_key(self, key: ApiKey) -> None:
        """Raises AlreadyExists if the id is taken."""
        ...

    async def get_key(self, key_id: str) -> ApiKey | None: ...

    async def list_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        ...

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        """False if no such key; revoking twice keeps the first time."""
        ...


class CatalogSettingsStore(Protocol):
    """Per-catalog settings (its products live in the VectorIndex)."""

    async def add_catalog(self, settings: CatalogSettings) -> bool:
        """True if added, False (and nothing changed) if the catalog is already registered."""
        ...

    async def put_catalog(self, settings: CatalogSettings) -> None:
        """Insert or replace."""
        ...

    async def get_catalog(self, name: str) -> CatalogSettings | None: ...

    async def list_catalogs(self) -> list[CatalogSettings]:
        """By name."""
        ...

    async def delete_catalog(self, name: str) -> bool:
        """Also deletes the catalog's complement maps (keys bound to the name keep the binding)."""
        ...


class ControlStore(KeyStore, CatalogSettingsStore, ComplementStore, Protocol):
    """The control plane: keys, catalog settings, complement maps (and later events), one
    database: SQLite in AISLE_DATA_DIR or PostgreSQL (AISLE_DATABASE_URL). `migrate` applies the
    versioned migrations (idempotent, safe when several processes start together)."""

    async def migrate(self) -> list[int]:
        """The versions applied by this call (none when already up to date)."""
        ...

    async def close(self) -> None: ...


class RateLimiter(Protocol):
    """Token buckets by name. Never raises on a backend failure: it degrades to a local bucket."""

    async def acquire(self, bucket: str, limit: RateLimit) -> float | None:
        """None if a token was taken; otherwise the seconds until one will be available."""
        ...

    async def close(self) -> None: ...
