from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings, SettingsError


def test_defaults_serve_the_embedded_edge_index_on_loopback() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port, settings.vector_backend) == ("127.0.0.1", 8000, "edge")
    assert (settings.embed_threads, settings.embed_int8) == (1, True)
    assert settings.write_embed_threads == 1
    assert Settings.from_env({"AISLE_WRITE_EMBED_THREADS": "2"}).write_embed_threads == 2


def test_a_qdrant_url_selects_the_server_backend_and_the_key_is_redacted() -> None:
    settings = Settings.from_env(
        {
            "QDRANT_URL": "https://q.example:6333",
            "QDRANT_API_KEY": "s3cret",
            "PORT": "9000",
            "AISLE_DATA_DIR": "/srv/aisle",
        }
    )
    assert (settings.vector_backend, settings.port, settings.data_dir) == ("qdrant", 9000, Path("/srv/aisle"))
    assert "s3cret" not in repr(settings.redacted())


@pytest.mark.parametrize(
    "env",
    [
        {"PORT": "eighty"},
        {"PORT": "70000"},
        {"AISLE_VECTOR_BACKEND": "faiss"},
        {"AISLE_VECTOR_BACKEND": "qdrant"},
        {"AISLE_EMBED_INT8": "maybe"},
        {"AISLE_WRITE_EMBED_THREADS": "0"},
    ],
)
def test_bad_values_fail_with_the_variable_named(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert next(iter(env)) in str(caught.value) or "QDRANT_URL" in str(caught.value)


def test_tracing_export_follows_the_standard_otel_variables() -> None:
    assert not Settings.from_env({}).otel_enabled
    assert Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}).otel_enabled
    assert not Settings.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}
    ).otel_enabled


def test_llm_settings_need_a_model_and_keep_the_key_secret() -> None:
    with pytest.raises(SettingsError, match="LLM_MODEL"):
        Settings.from_env({"LLM_BASE_URL": "http://llm:8000/v1"})
    settings = Settings.from_env(
        {"LLM_API_KEY": "sk-secret", "LLM_MODEL": "gpt-x", "AISLE_PROMPT_RERANK": "v1"}
    )
    assert settings.llm_enabled
    assert settings.prompt_pins == (("rerank", "v1"),)
    assert "sk-secret" not in repr(settings.redacted())


def test_auth_is_on_unless_turned_off_and_its_settings_are_checked() -> None:
    assert Settings.from_env({}).auth is True
    assert Settings.from_env({"AISLE_AUTH": "off"}).auth is False
    assert Settings().auth is False  # built in code (tests, evals): they pass ready-made Deps
    with pytest.raises(SettingsError, match="AISLE_ADMIN_KEY"):
        Settings.from_env({"AISLE_ADMIN_KEY": "short"})
    with pytest.raises(SettingsError, match="AISLE_CORS_ORIGINS"):
        Settings.from_env({"AISLE_CORS_ORIGINS": "https://ok.example, not an origin"})
    s = Settings.from_env(
        {"AISLE_CORS_ORIGINS": "https://a.example, http://localhost:3000", "AISLE_RATE_LIMIT_RPS": "0.5"}
    )
    assert s.cors_origins == ("https://a.example", "http://localhost:3000")
    assert s.rate_limit_rps == 0.5


def test_redacted_settings_mask_the_admin_key_and_the_database_password() -> None:
    s = Settings.from_env(
        {
            "AISLE_ADMIN_KEY": "k" * 40,
            "AISLE_DATABASE_URL": "postgresql://aisle:s3cret@db:5432/aisle?sslmode=require",
        }
    )
    out = s.redacted()
    assert out["admin_key"] == "***"
    assert out["database_url"] == "postgresql://aisle:***@db:5432/aisle?sslmode=require"
    assert "s3cret" not in repr(out)
    dsn = Settings(database_url="host=db user=aisle password=s3cret dbname=aisle").redacted()
    assert "s3cret" not in str(dsn["database_url"])


def test_hardening_limits_come_from_the_environment_with_bounds() -> None:
    settings = Settings.from_env(
        {
            "AISLE_MAX_BODY_BYTES": "4096",
            "AISLE_MAX_WRITE_BODY_BYTES": "8192",
            "AISLE_MAX_JSON_DEPTH": "16",
            "AISLE_MAX_IN_FLIGHT": "4",
            "AISLE_MAX_QUEUE": "0",
            "AISLE_QUEUE_TIMEOUT_MS": "250",
            "AISLE_MAX_WRITES_IN_FLIGHT": "2",
            "AISLE_MAX_WRITE_QUEUE": "3",
            "AISLE_WRITE_QUEUE_TIMEOUT_MS": "5000",
            "AISLE_KEEP_ALIVE_S": "90",
            "AISLE_METRICS_MAX_CATALOGS": "10",
            "AISLE_INGEST_MAX_DELETE_FRACTION": "0.5",
        }
    )
    assert (settings.max_body_bytes, settings.max_write_body_bytes, settings.max_json_depth) == (
        4096,
        8192,
        16,
    )
    assert (settings.max_in_flight, settings.max_queue, settings.queue_timeout_ms) == (4, 0, 250)
    writes = (settings.max_writes_in_flight, settings.max_write_queue, settings.write_queue_timeout_ms)
    assert writes == (2, 3, 5000)
    assert (settings.keep_alive_s, settings.metrics_max_catalogs) == (90, 10)
    assert settings.ingest_max_delete_fraction == 0.5
    for name, bad in (
        ("AISLE_MAX_IN_FLIGHT", "0"),
        ("AISLE_MAX_WRITES_IN_FLIGHT", "0"),
        ("AISLE_MAX_WRITE_QUEUE", "100000"),
        ("AISLE_INGEST_MAX_DELETE_FRACTION", "1.5"),
    ):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: bad})


def test_the_server_keeps_idle_connections_longer_than_a_load_balancer_does() -> None:
    from app.cli import server_options

    options = server_options(Settings.from_env({}))
    assert options["timeout_keep_alive"] > 60  # ALB's idle timeout: the balancer must close first
    assert options["log_config"] is None  # uvicorn logs through app/log.py's JSON handler
    assert server_options(Settings.from_env({"AISLE_KEEP_ALIVE_S": "120"}))["timeout_keep_alive"] == 120


def test_ranker_settings_read_a_model_path_off_and_a_type_boost() -> None:
    from pathlib import Path

    from app.settings import DEFAULT_RANKER_MODEL, Settings

    assert Settings.from_env({}).ranker_model == DEFAULT_RANKER_MODEL
    assert Settings.from_env({"AISLE_RANKER_MODEL": "off"}).ranker_model is None
    assert Settings.from_env({"AISLE_RANKER_MODEL": "/m/v2"}).ranker_model == Path("/m/v2")
    assert Settings.from_env({"AISLE_TYPE_BOOST": "0.5"}).type_boost == 0.5
    assert Settings.from_env({"AISLE_RANKER_DEPTH": "50"}).ranker_depth == 50
