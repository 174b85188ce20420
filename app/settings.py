"""One frozen Settings object, built from the environment at the entrypoint and passed down.

Nothing else in Aisle reads `os.environ`: `Settings.from_env(os.environ)` is called by the CLI
(app/cli.py) and tests build Settings directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from app.domain.search import RetrievalMode

VectorBackend = Literal["edge", "qdrant"]
EmbedBackend = Literal["torch", "onnx"]
DEFAULT_EMBED_BACKEND: EmbedBackend = "onnx"  # not worse than torch int8 in CV (docs/evals.md)
DEFAULT_RETRIEVAL: RetrievalMode = "hybrid"  # chosen by the eval (docs/evals.md)
_ROOT = Path(__file__).resolve().parents[1]
PROMPTS_DIR = _ROOT / "prompts"
DEFAULT_GATE_FILE = _ROOT / "evals" / "llm-gate.json"
MIN_ADMIN_KEY_CHARS = 32


_SECRET_NAME = re.compile(r"(api_key|admin_key|password|secret|token)$")
_DSN_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)
_SECRET_QUERY = re.compile(r"(pass|secret|token|key|auth|signature|sig)", re.IGNORECASE)


def redact_url(value: str) -> str:
    """`scheme://user:password@host/...?token=...` with the password and secret-looking query
    values masked; a libpq keyword DSN (`host=db password=...`) has its password masked; anything
    else comes back unchanged."""
    if "://" not in value:
        return _DSN_PASSWORD.sub(r"\1***", value)
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return "***"  # unparseable but URL-shaped: say nothing of it
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if has_password else f"***@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if _SECRET_QUERY.search(k) else v) for k, v in pairs], safe="*")
    if host is None and netloc == parts.netloc and query == parts.query:
        return value
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


DEFAULT_RANKER_MODEL = _ROOT / "models" / "ranker" / "v1"  # chosen by CV (docs/evals.md)


class SettingsError(ValueError):
    """An environment variable has a value Aisle cannot use."""


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from e
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, high: float = 100) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as e:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from e
    if not 0 <= value <= high:
        raise SettingsError(f"{name} must be between 0 and {high:.15g}, got {value}")
    return value


def _embed_backend(env: Mapping[str, str]) -> EmbedBackend:
    raw = env.get("AISLE_EMBED_BACKEND") or DEFAULT_EMBED_BACKEND
    if raw not in ("torch", "onnx"):
        raise SettingsError(f"AISLE_EMBED_BACKEND must be torch or onnx, got {raw!r}")
    return raw  # type: ignore[return-value]


def _retrieval(env: Mapping[str, str]) -> RetrievalMode:
    raw = env.get("AISLE_RETRIEVAL") or DEFAULT_RETRIEVAL
    if raw not in ("dense", "hybrid", "lexical"):
        raise SettingsError(f"AISLE_RETRIEVAL must be dense, hybrid or lexical, got {raw!r}")
    return raw  # type: ignore[return-value]


def _ranker_model(env: Mapping[str, str]) -> Path | None:
    raw = (env.get("AISLE_RANKER_MODEL") or "").strip()
    if raw.lower() in ("off", "none", "false", "0"):
        return None
    return Path(raw) if raw else DEFAULT_RANKER_MODEL


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be a boolean (true/false), got {raw!r}")


_ORIGIN = re.compile(r"^https?://[^/\s]+$")


def _origins(env: Mapping[str, str]) -> tuple[str, ...]:
    origins = tuple(o.strip() for o in (env.get("AISLE_CORS_ORIGINS") or "").split(",") if o.strip())
    bad = [o for o in origins if o != "*" and not _ORIGIN.match(o)]
    if bad:
        raise SettingsError(f"AISLE_CORS_ORIGINS takes scheme://host[:port] origins or *, got {bad}")
    return origins


def _admin_key(env: Mapping[str, str]) -> str | None:
    key = env.get("AISLE_ADMIN_KEY") or None
    if key is not None and len(key) < MIN_ADMIN_KEY_CHARS:
        raise SettingsError(
            f"AISLE_ADMIN_KEY must be at least {MIN_ADMIN_KEY_CHARS} random characters "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return key


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("var")
    complements_dir: Path | None = None  # None: <data_dir>/complements
    host: str = "127.0.0.1"
    port: int = 8000
    vector_backend: VectorBackend = "edge"
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    qdrant_collection_prefix: str = "aisle_"
    edge_search_threads: int = 1
    embed_model: str = "all-MiniLM-L6-v2"
    embed_backend: EmbedBackend = DEFAULT_EMBED_BACKEND
    embed_threads: int = 1
    embed_int8: bool = True  # measured: same nDCG@10 as fp32, faster (docs/embeddings.md)
    embed_batch_size: int = 64
    embed_max_seq_length: int = 256
    ingest_threads: int = 0  # 0: every core; ingestion runs alone, unlike serving
    log_level: str = "info"
    log_json: bool | None = None  # None: JSON unless stdout is a terminal
    # LLM stage: enabled when LLM_BASE_URL or LLM_API_KEY is set.
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str | None = None
    llm_deadline_ms: int = 2000
    llm_candidates: int = 30
    llm_max_attempts: int = 3
    llm_max_in_flight: int = 8
    llm_structured_output: bool = True
    llm_cache_ttl_s: int = 3600
    breaker_window: int = 20
    breaker_min_calls: int = 10
    breaker_failure_rate_pct: int = 50
    breaker_open_s: int = 30
    redis_url: str | None = None
    prompts_dir: Path = PROMPTS_DIR
    prompt_pins: tuple[tuple[str, str], ...] = ()
    llm_gate_file: Path | None = DEFAULT_GATE_FILE
    retrieval: RetrievalMode = DEFAULT_RETRIEVAL
    prometheus_multiproc_dir: str | None = None  # PROMETHEUS_MULTIPROC_DIR, for several workers
    otel_enabled: bool = False  # OTEL_SDK_DISABLED=false and an OTLP endpoint turn tracing export on
    # Weighted RRF: nested CV chose k=10, lexical 2-3, 50 per list in 13 of 15 folds (docs/evals.md).
    fusion_k: int = 10
    fusion_dense_weight: float = 1.0
    fusion_sparse_weight: float = 3.0
    fusion_depth: int = 50
    # The trust boundary (docs/security.md). `auth` is on for `aisle serve` (from_env: AISLE_AUTH
    # defaults to on; the Makefile's `serve` sets it off for local development) and off for
    # Settings built in code (tests, evals), which pass ready-made Deps.
    auth: bool = False
    admin_key: str | None = None  # AISLE_ADMIN_KEY: a bootstrap admin secret, every scope and catalog
    database_url: str | None = None  # AISLE_DATABASE_URL: PostgreSQL; else SQLite in data_dir
    key_cache_s: int = 5  # how long a replica trusts a key record it read (revocation delay elsewhere)
    rate_limit_rps: float = 50.0  # per key, unless the key has its own; 0: keys without one are unlimited
    rate_limit_burst: int = 100
    cors_origins: tuple[str, ...] = ()  # AISLE_CORS_ORIGINS; empty: no CORS headers at all
    # Hardening limits (docs/operations.md, "Limits"): bodies, nesting, admission, keep-alive.
    max_body_bytes: int = 256 * 1024  # query routes (search, similar, assistant, bundles)
    max_write_body_bytes: int = 1024 * 1024  # routes marked opt={"body": "write"} (catalog writes)
    max_json_depth: int = 32
    max_in_flight: int = 32  # requests handled at once per worker
    worker_threads: int = 4  # threads running blocking work (embedding, Edge calls) at once per worker
    write_embed_threads: int = 1  # catalog writes' embedding, on its own threads (not worker_threads)
    max_queue: int = 64  # requests waiting for a slot, beyond which a 503 + Retry-After
    queue_timeout_ms: int = 1000  # the longest a request waits for a slot
    # Catalog writes (opt={"admission": "write"}) have their own, smaller pool: a bulk upsert holds
    # its slot while it waits for the write-embedding thread, and must not starve searches.
    max_writes_in_flight: int = 4
    max_write_queue: int = 8
    write_queue_timeout_ms: int = 1000
    keep_alive_s: int = 75  # above ALB's 60 s idle timeout: the client side must close first
    metrics_max_catalogs: int = 100  # catalogs labelled in aisle_index_products; the rest sum as "_other"
    ingest_max_delete_fraction: float = 0.2  # a full sync refuses to delete more without --force
    # Behavioural signals (docs/events.md): retention, how models follow the log, impressions.
    events_retention_days: int = 90  # events and impressions older than this are pruned (hourly)
    events_refresh_ms: int = 1000  # how often models read events other replicas stored
    trending_half_life_h: float = 24.0
    cooccurrence_half_life_days: float = 30.0
    record_impressions: bool = True  # what search/similar/recommendations/bundles showed, for attribution
    impressions_flush_ms: int = 1000  # impressions are buffered, then written together
    # The learned ranking stage (app/ranking/): a model directory, or None for the retrieval order.
    ranker_model: Path | None = DEFAULT_RANKER_MODEL
    ranker_depth: int = 100
    type_boost: float = 0.0  # the product-type soft boost, served only without a learned model

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url or self.llm_api_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        qdrant_url = env.get("QDRANT_URL") or None
        backend = env.get("AISLE_VECTOR_BACKEND") or ("qdrant" if qdrant_url else "edge")
        if backend not in ("edge", "qdrant"):
            raise SettingsError(f"AISLE_VECTOR_BACKEND must be 'edge' or 'qdrant', got {backend!r}")
        if backend == "qdrant" and not qdrant_url:
            raise SettingsError("AISLE_VECTOR_BACKEND=qdrant needs QDRANT_URL (a server URL, or :memory:)")
        log_json_raw = env.get("AISLE_LOG_JSON")
        llm_base_url = env.get("LLM_BASE_URL") or None
        llm_api_key = env.get("LLM_API_KEY") or None
        llm_model = env.get("LLM_MODEL") or None
        if (llm_base_url or llm_api_key) and not llm_model:
            raise SettingsError("LLM_MODEL is required when LLM_BASE_URL or LLM_API_KEY is set")
        pins = tuple(
            (name.removeprefix("AISLE_PROMPT_").lower(), value)
            for name, value in sorted(env.items())
            if name.startswith("AISLE_PROMPT_") and name != "AISLE_PROMPTS_DIR" and value
        )
        return cls(
            data_dir=Path(env.get("AISLE_DATA_DIR") or "var"),
            complements_dir=Path(env["AISLE_COMPLEMENTS_DIR"]) if env.get("AISLE_COMPLEMENTS_DIR") else None,
            host=env.get("HOST") or "127.0.0.1",
            port=_int(env, "PORT", 8000, low=1, high=65535),
            vector_backend="qdrant" if backend == "qdrant" else "edge",
            qdrant_url=qdrant_url,
            qdrant_api_key=env.get("QDRANT_API_KEY") or None,
            qdrant_collection_prefix=env.get("QDRANT_COLLECTION_PREFIX") or "aisle_",
            edge_search_threads=_int(env, "AISLE_EDGE_SEARCH_THREADS", 1, low=1, high=256),
            embed_model=env.get("AISLE_EMBED_MODEL") or "all-MiniLM-L6-v2",
            embed_backend=_embed_backend(env),
            embed_threads=_int(env, "AISLE_EMBED_THREADS", 1, low=1, high=256),
            embed_int8=_bool(env, "AISLE_EMBED_INT8", True),
            embed_batch_size=_int(env, "AISLE_EMBED_BATCH_SIZE", 64, low=1, high=4096),
            embed_max_seq_length=_int(env, "AISLE_EMBED_MAX_SEQ_LENGTH", 256, low=16, high=512),
            ingest_threads=_int(env, "AISLE_INGEST_THREADS", 0, low=0, high=256),
            log_level=(env.get("AISLE_LOG_LEVEL") or "info").lower(),
            log_json=None if not log_json_raw else _bool(env, "AISLE_LOG_JSON", True),
            llm_base_url=llm_base_url,
            llm_api_key=llm_api_key,
            llm_model=llm_model,
            llm_deadline_ms=_int(env, "LLM_DEADLINE_MS", 2000, low=50, high=120_000),
            llm_candidates=_int(env, "LLM_CANDIDATES", 30, low=1, high=100),
            llm_max_attempts=_int(env, "LLM_MAX_ATTEMPTS", 3, low=1, high=10),
            llm_max_in_flight=_int(env, "LLM_MAX_IN_FLIGHT", 8, low=1, high=1024),
            llm_structured_output=_bool(env, "LLM_STRUCTURED_OUTPUT", True),
            llm_cache_ttl_s=_int(env, "LLM_CACHE_TTL_S", 3600, low=1, high=30 * 86400),
            breaker_window=_int(env, "LLM_BREAKER_WINDOW", 20, low=1, high=10_000),
            breaker_min_calls=_int(env, "LLM_BREAKER_MIN_CALLS", 10, low=1, high=10_000),
            breaker_failure_rate_pct=_int(env, "LLM_BREAKER_FAILURE_RATE_PCT", 50, low=1, high=100),
            breaker_open_s=_int(env, "LLM_BREAKER_OPEN_S", 30, low=1, high=3600),
            redis_url=env.get("REDIS_URL") or None,
            prompts_dir=Path(env["AISLE_PROMPTS_DIR"]) if env.get("AISLE_PROMPTS_DIR") else PROMPTS_DIR,
            prompt_pins=pins,
            llm_gate_file=Path(env["AISLE_LLM_GATE_FILE"])
            if env.get("AISLE_LLM_GATE_FILE")
            else DEFAULT_GATE_FILE,
            retrieval=_retrieval(env),
            prometheus_multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            otel_enabled=bool(
                env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            )
            and not _bool(env, "OTEL_SDK_DISABLED", False),
            fusion_k=_int(env, "AISLE_FUSION_K", 10, low=1, high=1000),
            fusion_dense_weight=_float(env, "AISLE_FUSION_DENSE_WEIGHT", 1.0),
            fusion_sparse_weight=_float(env, "AISLE_FUSION_SPARSE_WEIGHT", 3.0),
            fusion_depth=_int(env, "AISLE_FUSION_DEPTH", 50, low=1, high=1000),
            auth=_bool(env, "AISLE_AUTH", True),
            admin_key=_admin_key(env),
            database_url=env.get("AISLE_DATABASE_URL") or None,
            key_cache_s=_int(env, "AISLE_KEY_CACHE_S", 5, low=0, high=3600),
            rate_limit_rps=_float(env, "AISLE_RATE_LIMIT_RPS", 50.0, high=1_000_000),
            rate_limit_burst=_int(env, "AISLE_RATE_LIMIT_BURST", 100, low=1, high=1_000_000),
            cors_origins=_origins(env),
            max_body_bytes=_int(env, "AISLE_MAX_BODY_BYTES", 256 * 1024, low=1024, high=64 << 20),
            max_write_body_bytes=_int(env, "AISLE_MAX_WRITE_BODY_BYTES", 1 << 20, low=1024, high=256 << 20),
            max_json_depth=_int(env, "AISLE_MAX_JSON_DEPTH", 32, low=4, high=1000),
            max_in_flight=_int(env, "AISLE_MAX_IN_FLIGHT", 32, low=1, high=10_000),
            max_queue=_int(env, "AISLE_MAX_QUEUE", 64, low=0, high=100_000),
            worker_threads=_int(env, "AISLE_WORKER_THREADS", 4, low=1, high=1024),
            write_embed_threads=_int(env, "AISLE_WRITE_EMBED_THREADS", 1, low=1, high=64),
            queue_timeout_ms=_int(env, "AISLE_QUEUE_TIMEOUT_MS", 1000, low=1, high=600_000),
            max_writes_in_flight=_int(env, "AISLE_MAX_WRITES_IN_FLIGHT", 4, low=1, high=1000),
            max_write_queue=_int(env, "AISLE_MAX_WRITE_QUEUE", 8, low=0, high=10_000),
            write_queue_timeout_ms=_int(env, "AISLE_WRITE_QUEUE_TIMEOUT_MS", 1000, low=1, high=600_000),
            keep_alive_s=_int(env, "AISLE_KEEP_ALIVE_S", 75, low=1, high=3600),
            metrics_max_catalogs=_int(env, "AISLE_METRICS_MAX_CATALOGS", 100, low=1, high=10_000),
            ingest_max_delete_fraction=_float(env, "AISLE_INGEST_MAX_DELETE_FRACTION", 0.2, high=1.0),
            events_retention_days=_int(env, "AISLE_EVENTS_RETENTION_DAYS", 90, low=1, high=3650),
            events_refresh_ms=_int(env, "AISLE_EVENTS_REFRESH_MS", 1000, low=10, high=3_600_000),
            trending_half_life_h=_float(env, "AISLE_TRENDING_HALF_LIFE_H", 24.0, high=24 * 365),
            cooccurrence_half_life_days=_float(env, "AISLE_COOCCURRENCE_HALF_LIFE_DAYS", 30.0, high=3650),
            record_impressions=_bool(env, "AISLE_RECORD_IMPRESSIONS", True),
            impressions_flush_ms=_int(env, "AISLE_IMPRESSIONS_FLUSH_MS", 1000, low=10, high=600_000),
            ranker_model=_ranker_model(env),
            ranker_depth=_int(env, "AISLE_RANKER_DEPTH", 100, low=2, high=1000),
            type_boost=_float(env, "AISLE_TYPE_BOOST", 0.0),
        )

    def redacted(self) -> dict[str, object]:
        """For start-up logs: every setting, secrets masked (keys by name, credentials inside any
        URL-shaped value: REDIS_URL, LLM_BASE_URL, QDRANT_URL and whatever URL comes next)."""
        out: dict[str, object] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, Path):
                value = str(value)
            if value and _SECRET_NAME.search(name):
                value = "***"
            elif isinstance(value, str):
                value = redact_url(value)
            out[name] = value
        return out

    @property
    def complement_maps_dir(self) -> Path:
        return self.complements_dir or self.data_dir / "complements"

    @property
    def store_path(self) -> Path:
        """The embedded control-plane store (when no AISLE_DATABASE_URL is set)."""
        return self.data_dir / "control.db"


def embedding_model_id(settings: Settings) -> str:
    """What produced a catalog's vectors; part of every content hash, so a change re-embeds."""
    if settings.embed_backend == "onnx":
        return f"{settings.embed_model}+onnx-int8@{settings.embed_max_seq_length}"
    int8 = "+int8" if settings.embed_int8 else ""
    return f"{settings.embed_model}{int8}@{settings.embed_max_seq_length}"
