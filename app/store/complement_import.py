"""The one-time move of complement maps from files (decision 0009) into the store (0010).

At start-up (`aisle serve`) and by `aisle db migrate`: each `<catalog>.<source>.json` in
AISLE_COMPLEMENTS_DIR is looked at once, ever: the store records the file (migration 0004) and,
in the same transaction, copies its map in unless it holds one for that catalog and source. The
store wins from then on: a recorded file is never read again, so a map deleted through the API
(or with its catalog) stays deleted across restarts. Files are left in place (several replicas
may share the directory) for the operator to delete; a new map is set through the API or
`aisle complements`, not by editing a recorded file. (A database migrated to 0004 looks at every
file once more: releases before it re-imported files on every start.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import anyio.to_thread

from app.adapters.complement_files import FileComplementStore
from app.domain.complements import ComplementSource
from app.ports import ComplementImports

_FILE = re.compile(r"^([a-z0-9][a-z0-9_-]{0,62})\.(merchandiser|learned)\.json$")


async def import_complement_files(store: ComplementImports, directory: Path) -> list[str]:
    """The files whose map this call stored (none when there is nothing new)."""
    names = await anyio.to_thread.run_sync(
        lambda: sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
    )
    files = FileComplementStore(directory)
    done = await store.imported_files() if names else set()
    imported = []
    for name in names:
        match = _FILE.match(name)
        if match is None or name in done:
            continue
        catalog, source = match.group(1), cast(ComplementSource, match.group(2))
        mapping = await files.get(catalog, source)
        if mapping is not None and await store.import_complement_file(name, catalog, mapping):
            imported.append(name)
    return imported
