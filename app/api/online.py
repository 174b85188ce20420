"""Online metrics at the edge: which experiment variant a request is in, and what its response
showed (an impression, for attribution, and a metric).

Routes that can be attributed (search, similar, recommendations, bundles) call `assigned` before
running the use case (a variant may change `rerank` or the behavioural blend) and `shown` after it.
The unit an experiment assigns by comes from `X-Aisle-User-Id` / `X-Aisle-Session-Id` (or a
recommendation request's own user_id / session_id).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

import structlog
from litestar.datastructures import State
from litestar.params import HeaderParameter

from app.domain.events import Impression, ShownBy
from app.domain.experiments import Assignment
from app.domain.search import RerankMode
from app.observability.metrics import Metrics

UserHeader = Annotated[
    str | None,
    HeaderParameter(
        name="x-aisle-user-id",
        max_length=200,
        required=False,
        description="the shopper's stable id: A/B tests assigned by user use it",
    ),
]
SessionHeader = Annotated[
    str | None,
    HeaderParameter(
        name="x-aisle-session-id",
        max_length=200,
        required=False,
        description="the shopping session's id: A/B tests assigned by session use it",
    ),
]


def request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value else None


async def assigned(
    state: State, catalog: str, route: ShownBy, user_id: str | None, session_id: str | None
) -> Assignment | None:
    behaviour = getattr(state, "behaviour", None)
    if behaviour is None:
        return None
    assignment: Assignment | None = await behaviour.experiments.assign(
        catalog, route, user_id=user_id, session_id=session_id
    )
    if assignment is not None:
        structlog.contextvars.bind_contextvars(
            experiment=assignment.experiment, variant=assignment.variant.name
        )
    return assignment


def rerank_for(assignment: Assignment | None, requested: RerankMode) -> RerankMode:
    """The variant's re-rank mode where it sets one, else what the request asked for."""
    return assignment.variant.rerank if assignment and assignment.variant.rerank else requested


def shown(
    state: State,
    catalog: str,
    route: ShownBy,
    ranking: str,
    item_ids: Sequence[str],
    assignment: Assignment | None,
) -> None:
    """Records what the response showed (nothing when it showed nothing)."""
    behaviour = getattr(state, "behaviour", None)
    rid = request_id()
    if behaviour is None or not item_ids or rid is None:
        return
    experiment = assignment.experiment if assignment else None
    variant = assignment.variant.name if assignment else None
    if behaviour.settings.record_impressions:
        behaviour.impressions.record(
            Impression(catalog, rid, route, ranking, tuple(item_ids), datetime.now(UTC), experiment, variant)
        )
    metrics: Metrics = state.metrics
    metrics.observe_impression(route, ranking, experiment, variant)
