"""Prompt templates as data (prompts/<name>/<version>.toml), loaded and validated at start-up.

A template that declares a variable it never uses, uses one it does not declare, or carries a
schema that is not a JSON-schema object fails `load_prompts`, so a broken prompt stops the
service from starting rather than failing requests.
"""

from __future__ import annotations

import copy
import re
import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.domain.llm import ChatMessage

_VERSION = re.compile(r"^v(\d+)$")


class PromptError(ValueError):
    """A prompt file is missing, malformed or inconsistent."""


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    name: str
    version: str
    system: string.Template
    user: string.Template
    variables: frozenset[str]
    schema: Mapping[str, Any]
    max_tokens: int
    temperature: float

    @property
    def key(self) -> str:
        return f"{self.name}/{self.version}"

    def render(self, **values: str) -> tuple[ChatMessage, ...]:
        missing = self.variables - values.keys()
        if missing:
            raise PromptError(f"{self.key}: missing values for {sorted(missing)}")
        return (
            ChatMessage("system", self.system.substitute(values)),
            ChatMessage("user", self.user.substitute(values)),
        )

    def schema_with_enums(
        self, enums: Mapping[str, Sequence[str]], max_items: Mapping[str, int] | None = None
    ) -> dict[str, Any]:
        """The answer schema with the named properties constrained to the given values (product
        ids, a catalog's real categories): structured output cannot stray. A name is a top-level
        property (its items when it is an array, their `id` when they are objects) or
        "array.field" for a field of an array's objects ("picks.slot"). `max_items` caps top-level
        arrays (one pick per slot)."""
        schema: dict[str, Any] = copy.deepcopy(dict(self.schema))
        for name, values in enums.items():
            head, _, field = name.partition(".")
            prop = schema.get("properties", {}).get(head)
            if prop is None:
                raise PromptError(f"{self.key}: no property {head!r} to constrain")
            target = prop.get("items", prop)
            inner = field or ("id" if "id" in target.get("properties", {}) else "")
            if inner:
                if inner not in target.get("properties", {}):
                    raise PromptError(f"{self.key}: no field {name!r} to constrain")
                target = target["properties"][inner]
            target["enum"] = list(values)
        for name, most in (max_items or {}).items():
            schema["properties"][name]["maxItems"] = most
        return schema


def _load_one(path: Path) -> PromptTemplate:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise PromptError(f"{path}: {e}") from e
    where = f"{path.parent.name}/{path.stem}"
    try:
        name, version = str(data["name"]), str(data["version"])
        system, user = string.Template(str(data["system"])), string.Template(str(data["user"]))
        variables = frozenset(str(v) for v in data["variables"])
        schema = data["schema"]
        max_tokens = int(data.get("max_tokens", 512))
        temperature = float(data.get("temperature", 0.0))
    except (KeyError, TypeError, ValueError) as e:
        raise PromptError(f"{where}: missing or bad field {e}") from e
    if (name, version) != (path.parent.name, path.stem) or not _VERSION.match(version):
        raise PromptError(f"{where}: name/version must match the path and versions look like v1, v2")
    for template in (system, user):
        if not template.is_valid():
            raise PromptError(f"{where}: invalid $placeholder in a template")
    used = set(system.get_identifiers()) | set(user.get_identifiers())
    if used != variables:
        raise PromptError(f"{where}: declared variables {sorted(variables)} but templates use {sorted(used)}")
    if not isinstance(schema, dict) or schema.get("type") != "object" or not schema.get("properties"):
        raise PromptError(f"{where}: [schema] must be a JSON-schema object with properties")
    if not 1 <= max_tokens <= 8192:
        raise PromptError(f"{where}: max_tokens must be 1..8192")
    return PromptTemplate(name, version, system, user, variables, schema, max_tokens, temperature)


REQUIRED_PROMPTS = ("rerank", "explain", "intent", "reply", "bundle", "slots")


def load_prompts(directory: Path, pinned: Mapping[str, str] | None = None) -> dict[str, PromptTemplate]:
    """The active template per prompt name: the highest version, unless `pinned[name]` says which."""
    if not directory.is_dir():
        raise PromptError(f"prompt directory {directory} does not exist")
    versions: dict[str, dict[str, PromptTemplate]] = {}
    for path in sorted(directory.glob("*/v*.toml")):
        template = _load_one(path)
        versions.setdefault(template.name, {})[template.version] = template
    active: dict[str, PromptTemplate] = {}
    for name, by_version in versions.items():
        want = (pinned or {}).get(name)
        if want is not None and want not in by_version:
            raise PromptError(f"prompt {name!r} has no version {want!r} (have {sorted(by_version)})")
        active[name] = (
            by_version[want] if want else max(by_version.values(), key=lambda t: int(t.version[1:]))
        )
    for required in REQUIRED_PROMPTS:
        if required not in active:
            raise PromptError(f"prompt {required!r} is missing from {directory}")
    return active
