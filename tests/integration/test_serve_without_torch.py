"""The ONNX serving path runs without torch and without the eval-only packages, as the slim image
does (requirements/serve.lock): `aisle ingest` and `aisle serve` with AISLE_EMBED_BACKEND=onnx run
in processes where importing any of them fails as if it were not installed (a `sitecustomize`
import blocker), against a model exported beforehand, as the Dockerfile's build stage does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# Not in the serve profile: torch and what needs it, the ONNX exporter, the eval-only packages.
ABSENT = ("torch", "sentence_transformers", "transformers", "onnx", "bm25s", "ranx", "matplotlib", "numba")
BLOCKER = f"""
import importlib.abc, sys

class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {ABSENT!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not in the serve profile)", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("no-torch")
    data_dir = root / "var"
    base = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("QDRANT_", "LLM_", "PROMETHEUS_"))},
        "AISLE_DATA_DIR": str(data_dir),
        "AISLE_EMBED_BACKEND": "onnx",
        "AISLE_LOG_LEVEL": "warning",
        "AISLE_AUTH": "off",  # what is under test is the import graph, not the trust boundary
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    export = [sys.executable, "-m", "scripts.export_onnx_model", "--data-dir", str(data_dir)]
    subprocess.run(export, env=base, cwd=ROOT, check=True, capture_output=True, timeout=300)
    blocker = root / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    return {**base, "PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)])}


def test_the_blocker_really_blocks(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import torch"], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "blocked: not in the serve profile" in done.stderr


def test_ingest_and_serve_with_onnx_need_no_torch(env: dict[str, str], tmp_path: Path) -> None:
    catalog = tmp_path / "shop.jsonl"
    catalog.write_text(
        "".join(
            f'{{"id": "p{i}", "title": "{name}", "brand": "Acme", "price": {10 + i}}}\n'
            for i, name in enumerate(["bluetooth speaker", "usb cable", "laptop bag", "aa batteries"])
        )
    )
    ingest = [sys.executable, "-m", "app", "ingest", str(catalog), "--catalog", "shop"]
    done = subprocess.run(ingest, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"the server exited: {server.stderr.read()[-2000:] if server.stderr else ''}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        else:
            pytest.fail("the server did not get ready within 90 s")
        found = httpx.post(f"{url}/v1/catalogs/shop/search", json={"query": "speaker"}, timeout=10)
        assert found.status_code == 200, found.text
        assert found.json()["items"][0]["id"] == "p0"
    finally:
        server.terminate()
        server.wait(20)
