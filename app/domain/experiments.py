"""A/B tests: named experiments whose variants are assigned deterministically by user or session.

Assignment is a pure function of (experiment name, unit id): SHA-256 of both, read as a number in
[0, 1), falls into a variant's share of the weights. The same shopper therefore sees the same
variant on every replica, across restarts, with no assignment table; renaming the experiment
re-shuffles everyone (a new experiment is a new draw). Names are short slugs because they become
Prometheus label values (app/observability/metrics.py bounds how many).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from app.domain.errors import InvalidRequest
from app.domain.events import SHOWN_BY, ShownBy
from app.domain.search import RerankMode

Unit = Literal["user", "session"]
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
VARIANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
MAX_VARIANTS = 5
_NAME = re.compile(NAME_PATTERN)
_VARIANT = re.compile(VARIANT_PATTERN)
_RERANK = ("none", "llm", "auto")


@dataclass(frozen=True, slots=True)
class Variant:
    """One arm: its share of the traffic and what it changes for the request (None: unchanged)."""

    name: str
    weight: float = 1.0
    rerank: RerankMode | None = None
    blend: float | None = None  # recommendations: the events' weight against content, 0..1


@dataclass(frozen=True, slots=True)
class Experiment:
    catalog: str
    name: str
    unit: Unit
    variants: tuple[Variant, ...]
    routes: tuple[ShownBy, ...]
    created_at: datetime
    stopped_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.stopped_at is None


@dataclass(frozen=True, slots=True)
class Assignment:
    experiment: str
    variant: Variant


def validate_experiment(e: Experiment) -> Experiment:
    """Refuses what would make assignment ambiguous or labels unbounded (422 naming the field)."""
    if not _NAME.fullmatch(e.name):
        raise InvalidRequest("name", "1-40 of a-z, 0-9, '_' and '-', starting with a letter or digit")
    if not 2 <= len(e.variants) <= MAX_VARIANTS:
        raise InvalidRequest("variants", f"an experiment has 2..{MAX_VARIANTS} variants")
    names = [v.name for v in e.variants]
    if len(set(names)) != len(names):
        raise InvalidRequest("variants", f"variant names must differ: {names}")
    for n, v in enumerate(e.variants):
        if not _VARIANT.fullmatch(v.name):
            raise InvalidRequest(f"variants[{n}].name", "1-32 of a-z, 0-9, '_' and '-'")
        if not 0 < v.weight <= 1000:
            raise InvalidRequest(f"variants[{n}].weight", "must be in (0, 1000]")
        if v.rerank is not None and v.rerank not in _RERANK:
            raise InvalidRequest(f"variants[{n}].rerank", f"one of {list(_RERANK)}")
        if v.blend is not None and not 0.0 <= v.blend <= 1.0:
            raise InvalidRequest(f"variants[{n}].blend", "must be in [0, 1]")
    if e.unit not in ("user", "session"):
        raise InvalidRequest("unit", "user or session")
    if not e.routes or any(r not in SHOWN_BY for r in e.routes):
        raise InvalidRequest("routes", f"one or more of {list(SHOWN_BY)}")
    return e


def bucket(experiment: str, unit_id: str) -> float:
    """A stable number in [0, 1) for this unit in this experiment."""
    digest = hashlib.sha256(f"{experiment}\x1f{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign(experiment: str, variants: Sequence[Variant], unit_id: str) -> Variant:
    """The unit's variant: the one whose cumulative share of the weights covers its bucket."""
    point = bucket(experiment, unit_id) * sum(v.weight for v in variants)
    running = 0.0
    for v in variants:
        running += v.weight
        if point < running:
            return v
    return variants[-1]  # float rounding at the very top
