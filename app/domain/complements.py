"""Complement maps as values: which categories complete an anchor's category, by source.

A map is category key -> complement category keys, strongest first. The bundle use case plans
slots from them and validates and learns them (app/bundles/complements.py); a `ComplementStore`
adapter keeps them (app/ports.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app.domain.models import filter_key

ComplementSource = Literal["merchandiser", "learned"]


@dataclass(frozen=True, slots=True)
class ComplementMap:
    source: ComplementSource
    complements: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    provenance: str = ""

    def for_category(self, category: str) -> tuple[str, ...]:
        return self.complements.get(filter_key(category), ())

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "provenance": self.provenance,
            "complements": {k: list(v) for k, v in self.complements.items()},
        }
