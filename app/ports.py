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
from app.domain.events import AttributedEvent, Event, Impression, ImpressionGroup, StoredEvent
from app.domain.experiments import Experiment
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

    async def ensure_catalog(self, catalog: str, dimension: int) -> bool:
        """Create the catalog if missing: True if this call created it. Raise IndexIncompatible if
        it exists with another dimension."""
        ...

    async def drop_catalog(self, catalog: str) -> bool:
        """Delete the catalog and every product in it; False if there was none. Safe while the
        catalog is served: a read racing the drop gets CatalogNotFound."""
        ...

    async def upsert(self, catalog: str, records: Sequence[IndexRecord]) -> None:
        """Applied (the next read sees it) when it returns; durable once `flush` returns."""
        ...

    async def delete(self, catalog: str, ids: Sequence[str]) -> None:
        """Applied when it returns; durable once `flush` returns. Unknown ids are ignored."""
        ...

    async def flush(self, catalog: str) -> None:
        """Make every write to the catalog that returned before this call durable (Edge: the shard
        fsynced to disk; a Qdrant server: already in its write-ahead log, since every write waits
        for it). A write is acknowledged to a client only after this returns. Concurrent callers
        may share one flush (group commit). Raises CatalogNotFound for an unknown catalog."""
        ...

    async def fingerprints(self, catalog: str, ids: Sequence[str] | None = None) -> dict[str, str]:
        """product id -> content hash for every stored product (incremental ingestion reads this),
        or, given `ids`, for those of them that are stored."""
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


class ComplementImports(Protocol):
    """The complement-map files moved into the store (decision 0010), by file name: each is
    imported once, ever, so a map deleted later stays deleted."""

    async def imported_files(self) -> set[str]: ...

    async def import_complement_file(self, file: str, catalog: str, value: ComplementMap) -> bool:
        """In one transaction: records `file` as imported and stores `value` unless the catalog
        holds a map of its source. True when `value` was stored; False (and nothing changed but
        the record) when a map was held or `file` was recorded already."""
        ...


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
        """Also deletes, in the same transaction, the catalog's complement maps, events,
        impressions and experiments (keys bound to the name keep the binding). True if the
        settings were there."""
        ...


class EventStore(Protocol):
    """Shopper events per catalog, idempotent by event id, in one append order (docs/events.md)."""

    async def append_events(self, catalog: str, events: Sequence[Event]) -> int:
        """Stores, in one transaction, the events whose id the catalog has not stored yet; durable
        when it returns (an acknowledged batch survives kill -9). How many were new."""
        ...

    async def events_after(self, seq: int, limit: int) -> list[StoredEvent]:
        """Every catalog's events with a larger seq, in seq order, at most `limit`. An event
        committed later never has a smaller seq than one already readable (followers rely on it)."""
        ...

    async def recent_events(
        self, catalog: str, *, session_id: str | None = None, user_id: str | None = None, limit: int = 50
    ) -> list[StoredEvent]:
        """The session's (or else the user's) latest `limit` events, oldest first."""
        ...

    async def prune_events(self, before: datetime) -> int:
        """Deletes every catalog's events that happened before `before`; how many."""
        ...


class ImpressionStore(Protocol):
    """What responses showed, by request id, for attributing events to them."""

    async def record_impressions(self, impressions: Sequence[Impression]) -> None:
        """Idempotent by (catalog, request id): the first record stays."""
        ...

    async def get_impressions(self, catalog: str, request_ids: Sequence[str]) -> list[Impression]: ...

    async def impression_counts(
        self, catalog: str, since: datetime, until: datetime
    ) -> dict[ImpressionGroup, int]:
        """Impressions shown in [since, until), by route, ranking, experiment and variant."""
        ...

    async def attributed_events(
        self, catalog: str, since: datetime, until: datetime
    ) -> list[AttributedEvent]:
        """Events carrying the request id of an impression shown in [since, until), with it."""
        ...

    async def prune_impressions(self, before: datetime) -> int: ...


class ExperimentStore(Protocol):
    async def add_experiment(self, experiment: Experiment) -> None:
        """Raises AlreadyExists if the catalog has an experiment of that name (even stopped)."""
        ...

    async def list_experiments(self, catalog: str | None = None) -> list[Experiment]:
        """By catalog, then creation time."""
        ...

    async def stop_experiment(self, catalog: str, name: str, at: datetime) -> bool:
        """False if no such experiment; stopping twice keeps the first time."""
        ...


class ControlStore(
    KeyStore,
    CatalogSettingsStore,
    ComplementStore,
    ComplementImports,
    EventStore,
    ImpressionStore,
    ExperimentStore,
    Protocol,
):
    """The control plane: keys, catalog settings, complement maps, events and experiments, one
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
