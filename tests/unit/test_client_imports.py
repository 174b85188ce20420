"""The client package stays light: `aisle` never imports the server (app/, embeddings/, evals/),
and importing `aisle.client` or `aisle.tools` loads none of the heavy libraries (torch, qdrant,
onnxruntime, litestar, openai, the OpenTelemetry SDK, the MCP SDK)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

AISLE = Path(__file__).resolve().parents[2] / "aisle"
SERVER = ("app", "embeddings", "evals", "scripts", "tests")
HEAVY = (
    "app",
    "embeddings",
    "evals",
    "torch",
    "sentence_transformers",
    "transformers",
    "qdrant_client",
    "qdrant_edge",
    "onnxruntime",
    "litestar",
    "openai",
    "opentelemetry",
    "mcp",
    "starlette",
    "structlog",
    "numpy",
)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_no_module_in_aisle_imports_the_server() -> None:
    modules = sorted(AISLE.rglob("*.py"))
    assert len(modules) > 5
    offenders = {str(p.relative_to(AISLE)): _imports(p) & set(SERVER) for p in modules}
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("module", ["aisle.client", "aisle.tools"])
def test_importing_the_client_loads_nothing_heavy(module: str) -> None:
    probe = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = {name.split(".")[0] for name in json.loads(out.stdout)}
    assert loaded & set(HEAVY) == set()
    assert {"httpx", "msgspec"} <= loaded
