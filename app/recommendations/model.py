"""One catalog's behavioural model: what each event type feeds.

    purchase     -> bought-together (basket: the order, else the session), trending, sessions
    add_to_cart  -> trending, sessions
    view, click  -> viewed-together (basket: the session), trending, sessions

Pure and synchronous: the follower (follower.py) feeds it the store's events in append order, and
the offline replay (evals/events.py) feeds it a file's, through the same `add`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from app.domain.events import Event
from app.recommendations.cooccurrence import CoOccurrence, CoOccurrenceSettings, Neighbour
from app.recommendations.sknn import SessionKNN, SessionKNNSettings, SessionScores
from app.recommendations.trending import Trending, TrendingSettings

MAX_ITEM_CATEGORIES = 1_000_000


# Minimum support is in decayed baskets read now: one order today counts 1, one from a half-life
# ago 0.5. Orders are rarer than views: one recent shared order is evidence; views need about two
# recent shared sessions (or more older ones).
BOUGHT = CoOccurrenceSettings(min_support=0.75)
VIEWED = CoOccurrenceSettings(min_support=1.5)
SESSIONS = SessionKNNSettings()


@dataclass(frozen=True, slots=True)
class ModelSettings:
    bought: CoOccurrenceSettings = BOUGHT
    viewed: CoOccurrenceSettings = VIEWED
    trending: TrendingSettings = field(default_factory=TrendingSettings)
    sessions: SessionKNNSettings = SESSIONS


class BehaviourModel:
    def __init__(self, settings: ModelSettings | None = None, origin: float = 0.0) -> None:
        settings = settings or ModelSettings()
        self.settings = settings
        self.bought = CoOccurrence(settings.bought, origin)
        self.viewed = CoOccurrence(settings.viewed, origin)
        self.trending = Trending(settings.trending, origin)
        self.sessions = SessionKNN(settings.sessions)
        self.categories: dict[str, str] = {}  # item id -> category key, from the events themselves
        self.events = 0
        self.last_at = 0.0

    def add(self, e: Event) -> None:
        at = e.at.timestamp()
        if e.type == "purchase":
            self.bought.add(f"o:{e.order_id}" if e.order_id else f"s:{e.session_id}", e.item_id, at)
        elif e.type in ("view", "click"):
            self.viewed.add(e.session_id, e.item_id, at)
        self.trending.add(e.item_id, e.type, at, e.category)
        self.sessions.add(e.session_id, e.item_id)
        if e.category and len(self.categories) < MAX_ITEM_CATEGORIES:
            self.categories[e.item_id] = e.category
        self.events += 1
        self.last_at = max(self.last_at, at)

    def bought_with(
        self, items: Sequence[str], now: float, limit: int, exclude: Iterable[str] = ()
    ) -> list[Neighbour]:
        return self.bought.neighbours(items, now, limit, exclude)

    def viewed_with(
        self, items: Sequence[str], now: float, limit: int, exclude: Iterable[str] = ()
    ) -> list[Neighbour]:
        return self.viewed.neighbours(items, now, limit, exclude)

    def for_session(
        self, items: Sequence[str], limit: int, *, own: str | None = None, exclude: Iterable[str] = ()
    ) -> SessionScores:
        return self.sessions.recommend(items, limit, own=own, exclude=exclude)
