"""The one-time move of complement maps from files (decision 0009) into the store (0010).

At start-up (`aisle serve`) and by `aisle db migrate`: each `<catalog>.<source>.json` in
AISLE_COMPLEMENTS_DIR whose map the store does not hold yet is copied in. The store wins from
then on: files are never read again for a map the store holds, and are left in place (several
replicas may share the directory) for the operator to delete.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import anyio.to_thread

from app.adapters.complement_files import FileComplementStore
from app.domain.complements import ComplementSource
from app.ports import ComplementStore

_FILE = re.compile(r"^([a-z0-9][a-z0-9_-]{0,62})\.(merchandiser|learned)\.json$")


async def import_complement_files(store: ComplementStore, directory: Path) -> list[str]:
    """The files imported by this call (none when there is nothing new)."""
    names = await anyio.to_thread.run_sync(
        lambda: sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
    )
    files = FileComplementStore(directory)
    imported = []
    for name in names:
        match = _FILE.match(name)
        if match is None:
            continue
        catalog, source = match.group(1), cast(ComplementSource, match.group(2))
        if await store.get(catalog, source) is not None:
            continue
        mapping = await files.get(catalog, source)
        if mapping is not None:
            await store.put(catalog, mapping)
            imported.append(name)
    return imported
