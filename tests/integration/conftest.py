from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def onnx_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the ONNX embedder exports the model: once per test session (the export takes seconds)."""
    return tmp_path_factory.mktemp("models")
