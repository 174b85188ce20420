"""One frozen Settings object, built from the environment at the entrypoint and passed down.

Nothing else in Aisle reads `os.environ`: `Settings.from_env(os.environ)` is called by the CLI
(app/cli.py) and tests build Settings directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

VectorBackend = Literal["edge", "qdrant"]


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


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8000
    vector_backend: VectorBackend = "edge"
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    qdrant_collection_prefix: str = "aisle_"
    edge_search_threads: int = 1
    embed_model: str = "all-MiniLM-L6-v2"
    embed_threads: int = 1
    embed_int8: bool = False
    embed_batch_size: int = 64
    embed_max_seq_length: int = 256
    ingest_threads: int = 0  # 0: every core; ingestion runs alone, unlike serving
    log_level: str = "info"
    log_json: bool | None = None  # None: JSON unless stdout is a terminal

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        qdrant_url = env.get("QDRANT_URL") or None
        backend = env.get("AISLE_VECTOR_BACKEND") or ("qdrant" if qdrant_url else "edge")
        if backend not in ("edge", "qdrant"):
            raise SettingsError(f"AISLE_VECTOR_BACKEND must be 'edge' or 'qdrant', got {backend!r}")
        if backend == "qdrant" and not qdrant_url:
            raise SettingsError("AISLE_VECTOR_BACKEND=qdrant needs QDRANT_URL (a server URL, or :memory:)")
        log_json_raw = env.get("AISLE_LOG_JSON")
        return cls(
            data_dir=Path(env.get("AISLE_DATA_DIR") or "var"),
            host=env.get("HOST") or "127.0.0.1",
            port=_int(env, "PORT", 8000, low=1, high=65535),
            vector_backend="qdrant" if backend == "qdrant" else "edge",
            qdrant_url=qdrant_url,
            qdrant_api_key=env.get("QDRANT_API_KEY") or None,
            qdrant_collection_prefix=env.get("QDRANT_COLLECTION_PREFIX") or "aisle_",
            edge_search_threads=_int(env, "AISLE_EDGE_SEARCH_THREADS", 1, low=1, high=256),
            embed_model=env.get("AISLE_EMBED_MODEL") or "all-MiniLM-L6-v2",
            embed_threads=_int(env, "AISLE_EMBED_THREADS", 1, low=1, high=256),
            embed_int8=_bool(env, "AISLE_EMBED_INT8", False),
            embed_batch_size=_int(env, "AISLE_EMBED_BATCH_SIZE", 64, low=1, high=4096),
            embed_max_seq_length=_int(env, "AISLE_EMBED_MAX_SEQ_LENGTH", 256, low=16, high=512),
            ingest_threads=_int(env, "AISLE_INGEST_THREADS", 0, low=0, high=256),
            log_level=(env.get("AISLE_LOG_LEVEL") or "info").lower(),
            log_json=None if not log_json_raw else _bool(env, "AISLE_LOG_JSON", True),
        )

    def redacted(self) -> dict[str, object]:
        """For start-up logs: every setting, secrets masked."""
        out: dict[str, object] = {name: getattr(self, name) for name in self.__dataclass_fields__}
        if self.qdrant_api_key:
            out["qdrant_api_key"] = "***"
        out["data_dir"] = str(self.data_dir)
        return out
