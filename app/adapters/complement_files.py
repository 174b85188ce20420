"""`ComplementStore` on files: `<root>/<catalog>.<source>.json`, written atomically.

Merchandiser maps set through the API land here, and so do maps learned by `aisle complements
learn`; a map can also be deployed as a file. Several replicas share maps through a shared volume
or by deploying the files with the release (docs/bundles.md).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import anyio.to_thread

from app.domain.complements import ComplementMap, ComplementSource
from app.domain.errors import DependencyUnavailable


class FileComplementStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, catalog: str, source: ComplementSource) -> Path:
        return self._root / f"{catalog}.{source}.json"

    async def get(self, catalog: str, source: ComplementSource) -> ComplementMap | None:
        path = self._path(catalog, source)

        def read() -> ComplementMap | None:
            if not path.is_file():
                return None
            data = json.loads(path.read_text(encoding="utf-8"))
            complements = {str(k): tuple(str(c) for c in v) for k, v in data.get("complements", {}).items()}
            return ComplementMap(source, complements, str(data.get("provenance", "")))

        try:
            return await anyio.to_thread.run_sync(read)
        except (OSError, ValueError, AttributeError) as e:
            raise DependencyUnavailable(f"complement map {path}: {e}") from e

    async def put(self, catalog: str, value: ComplementMap) -> None:
        path = self._path(catalog, value.source)

        def write() -> None:
            self._root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._root, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(value.as_json(), f, indent=2, sort_keys=True)
            os.replace(tmp, path)

        await anyio.to_thread.run_sync(write)
