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
