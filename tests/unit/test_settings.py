from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings, SettingsError


def test_defaults_serve_the_embedded_edge_index_on_loopback() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port, settings.vector_backend) == ("127.0.0.1", 8000, "edge")
    assert (settings.embed_threads, settings.embed_int8) == (1, True)


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


def test_ranker_settings_read_a_model_path_off_and_a_type_boost() -> None:
    from pathlib import Path

    from app.settings import DEFAULT_RANKER_MODEL, Settings

    assert Settings.from_env({}).ranker_model == DEFAULT_RANKER_MODEL
    assert Settings.from_env({"AISLE_RANKER_MODEL": "off"}).ranker_model is None
    assert Settings.from_env({"AISLE_RANKER_MODEL": "/m/v2"}).ranker_model == Path("/m/v2")
    assert Settings.from_env({"AISLE_TYPE_BOOST": "0.5"}).type_boost == 0.5
    assert Settings.from_env({"AISLE_RANKER_DEPTH": "50"}).ranker_depth == 50
