"""The version is written once (pyproject.toml) and read from the package metadata everywhere."""

from __future__ import annotations

import tomllib
from pathlib import Path

from app.main import Deps, create_app, package_version
from app.settings import Settings
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_openapi_version_is_the_packages() -> None:
    written = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]
    app = create_app(Settings(), Deps(HashingEmbedder(), InMemoryVectorIndex()))
    assert app.openapi_config is not None
    assert app.openapi_config.version == package_version() == written
