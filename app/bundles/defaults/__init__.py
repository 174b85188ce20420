"""Curated default complement maps, as data: `<name>.toml` in this package, read once.

The planner's last map (docs/bundles.md): below the merchandiser's and the learned one, above
the LLM's proposal. A map is `[complements]` anchor category -> complement categories, and
`[never]` anchor category -> slots that make no sense for it (`load_never`), with a `version`
that changes with any edit.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources

from app.domain.complements import ComplementMap
from app.domain.models import filter_key

ELECTRONICS = "electronics"


class DefaultsError(ValueError):
    """A defaults file is missing or malformed."""


@functools.cache
def _read(name: str) -> dict[str, object]:
    try:
        return tomllib.loads(resources.files(__package__).joinpath(f"{name}.toml").read_text("utf-8"))
    except (FileNotFoundError, tomllib.TOMLDecodeError) as e:
        raise DefaultsError(f"default complements {name!r}: {e}") from e


def _table(name: str, raw: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise DefaultsError(f"default complements {name!r}: a table of category lists expected")
    out: dict[str, tuple[str, ...]] = {}
    for anchor, slots in raw.items():
        if not isinstance(slots, list) or not all(isinstance(s, str) and s for s in slots):
            raise DefaultsError(f"default complements {name!r}: {anchor} must list category names")
        key = filter_key(anchor)
        out[key] = tuple(dict.fromkeys(filter_key(s) for s in slots if filter_key(s) != key))
    return out


@functools.cache
def load_never(name: str = ELECTRONICS) -> dict[str, frozenset[str]]:
    """Per anchor category, the slots that make no sense for it (empty without a `[never]`)."""
    return {k: frozenset(v) for k, v in _table(name, _read(name).get("never", {})).items()}


@functools.cache
def load_defaults(name: str = ELECTRONICS) -> ComplementMap:
    data = _read(name)
    version, raw = data.get("version"), data.get("complements")
    if not isinstance(version, int) or not isinstance(raw, dict):
        raise DefaultsError(f"default complements {name!r}: needs `version` and a [complements] table")
    out = _table(name, raw)
    # A hint like the learned map, never stored; its provenance says what it is.
    return ComplementMap("learned", out, f"curated defaults: {name} v{version}")
