"""Prometheus metrics, served at `GET /metrics`.

One `Metrics` object per app, on its own `CollectorRegistry`, so tests and several apps in one
process never collide. Several server workers: set `PROMETHEUS_MULTIPROC_DIR` to an empty, shared,
writable directory before start; prometheus-client then aggregates the workers' files (gauges that
mirror process state use `multiprocess_mode="livesum"`). docs/operations.md lists every metric.

Every label value comes from a closed set, folded here whatever a caller passes: a client picks
the HTTP method and path, and catalog names are chosen by whoever creates catalogs, so an open
label would let anyone grow /metrics without bound (random methods grew it to 41 MB once).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from app.domain.events import EVENT_TYPES, RECOMMENDATION_TYPES, SHOWN_BY, SOURCES
from app.domain.grounding import CHECKS

LLM_OUTCOMES = (
    "ok",
    "timeout",
    "rate_limited",
    "server_error",
    "connection_error",
    "rejected",
    "invalid_output",
    "circuit_open",
    "overloaded",
    "disabled",
    "llm_error",
    "ungrounded_reply",  # the assistant's reply named something it did not return: templated instead
    "ungrounded_intent",  # the assistant's search text was not the shopper's words: the parser's used
    "ungrounded_reason",  # some item reasons (or a bundle rationale) were not grounded: templated
    "prompt_echo",  # the answer quoted its instructions: not used
    "other",  # any reason not listed above (folded, so the label set stays closed)
)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"
UNMATCHED_ROUTE = "unrouted"  # no route template: 404/405, anything no handler matched
OTHER_CATALOGS = "_other"  # catalogs past the cap, summed (a real name cannot start with "_")
CACHE_BACKENDS = frozenset({"memory", "redis"})
CACHE_RESULTS = frozenset({"hit", "miss"})
REJECT_REASONS = ("queue_full", "queue_timeout", "write_queue_full", "write_queue_timeout")
ROW_RESULTS = ("created", "updated", "unchanged", "error", "deleted")  # catalog writes, per product
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
RANKINGS = frozenset({"llm", "vector"})
NO_EXPERIMENT = "none"
MAX_EXPERIMENT_LABELS = 100  # (experiment, variant) pairs: 20 running experiments x 5 variants
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, *, multiprocess_dir: str | None = None, max_catalogs: int = 100) -> None:
        self._multiprocess = multiprocess_dir is not None
        self._max_catalogs = max_catalogs
        self._routes: frozenset[str] | None = None
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_duration = Histogram(
            "aisle_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.llm_requests = Counter(
            "aisle_llm_requests_total",
            "Requests that asked for the LLM stage, by outcome",
            ["outcome"],
            registry=r,
        )
        self.llm_duration = Histogram(
            "aisle_llm_stage_duration_seconds",
            "Time spent in the LLM stage per request",
            ["outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.llm_ungrounded = Counter(
            "aisle_llm_ungrounded_total",
            "LLM-written strings not shown because they were not grounded in the facts, by check",
            ["check"],
            registry=r,
        )
        self.llm_calls = Counter("aisle_llm_upstream_calls_total", "Calls made to the LLM server", registry=r)
        self.llm_tokens = Counter(
            "aisle_llm_tokens_total", "LLM tokens used (prompt + completion)", registry=r
        )
        self.cache = Counter(
            "aisle_llm_cache_requests_total", "LLM cache lookups by result", ["backend", "result"], registry=r
        )
        self.breaker_state = Gauge(
            "aisle_llm_breaker_state",
            "LLM circuit breaker: 0 closed, 1 half-open, 2 open",
            registry=r,
            multiprocess_mode="max",
        )
        self.llm_in_flight = Gauge(
            "aisle_llm_in_flight", "LLM calls in flight", registry=r, multiprocess_mode="livesum"
        )
        self.index_products = Gauge(
            "aisle_index_products",
            "Products per catalog in the vector index",
            ["catalog"],
            registry=r,
            multiprocess_mode="max",
        )
        self.ready = Gauge(
            "aisle_ready",
            "1 when the index answers (what /readyz checks), else 0",
            registry=r,
            multiprocess_mode="min",
        )
        self.http_rejected = Counter(
            "aisle_http_rejected_total",
            "Requests refused by admission control (503 + Retry-After), by reason",
            ["reason"],
            registry=r,
        )
        self.http_in_flight = Gauge(
            "aisle_http_in_flight", "Requests being handled", registry=r, multiprocess_mode="livesum"
        )
        self.http_queued = Gauge(
            "aisle_http_queued",
            "Requests waiting for an admission slot",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.http_write_in_flight = Gauge(
            "aisle_http_write_in_flight",
            "Catalog write requests being handled (their own admission pool)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.http_write_queued = Gauge(
            "aisle_http_write_queued",
            "Catalog write requests waiting for a write admission slot",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.catalog_rows = Counter(
            "aisle_catalog_rows_total",
            "Products written through the catalog write API, by result",
            ["result"],
            registry=r,
        )
        self.catalog_embedded = Counter(
            "aisle_catalog_embedded_total",
            "Products the catalog write API embedded (the other writes kept their stored vector)",
            registry=r,
        )
        self._online_metrics(r)
        for outcome in LLM_OUTCOMES:
            self.llm_requests.labels(outcome)  # export zeros, so rate() works before the first event
        for result in ROW_RESULTS:
            self.catalog_rows.labels(result)
        for reason in REJECT_REASONS:
            self.http_rejected.labels(reason)
        for check in CHECKS:
            self.llm_ungrounded.labels(check)

    def _online_metrics(self, r: CollectorRegistry) -> None:
        """Events, impressions and attributions (docs/events.md). CTR by route, ranking or variant
        is rate(attributed click) / rate(impressions) over the same labels."""
        self._experiment_labels: set[tuple[str, str]] = set()
        self.events = Counter(
            "aisle_events_received_total", "Shopper events received, by type", ["type"], registry=r
        )
        self.events_stored = Counter(
            "aisle_events_stored_total", "Events stored (received minus duplicates)", registry=r
        )
        self.events_unknown_items = Counter(
            "aisle_events_unknown_items_total", "Distinct unknown item ids per batch, summed", registry=r
        )
        self.impressions = Counter(
            "aisle_impressions_total",
            "Responses that showed items, by route, ranking, experiment and variant",
            ["route", "ranking", "experiment", "variant"],
            registry=r,
        )
        self.attributed = Counter(
            "aisle_attributed_events_total",
            "Events attributed to the response that showed their item (carried its request id)",
            ["type", "route", "ranking", "experiment", "variant"],
            registry=r,
        )
        self.recommendations = Counter(
            "aisle_recommendations_total",
            "Recommendation responses by type and source",
            ["type", "source"],
            registry=r,
        )
        for event_type in EVENT_TYPES:
            self.events.labels(event_type)

    def experiment_label(self, experiment: str | None, variant: str | None) -> tuple[str, str]:
        """Experiments and variants are named by operators: the first `MAX_EXPERIMENT_LABELS`
        pairs this process sees are labels, later ones fold into `other` (a hard bound)."""
        if experiment is None or variant is None:
            return NO_EXPERIMENT, NO_EXPERIMENT
        pair = (experiment, variant)
        if pair in self._experiment_labels:
            return pair
        if len(self._experiment_labels) < MAX_EXPERIMENT_LABELS:
            self._experiment_labels.add(pair)
            return pair
        return OTHER, OTHER

    def observe_events(self, types: dict[str, int], stored: int, unknown_items: int) -> None:
        for event_type, n in types.items():
            self.events.labels(event_type if event_type in EVENT_TYPES else OTHER).inc(n)
        self.events_stored.inc(stored)
        self.events_unknown_items.inc(unknown_items)

    def observe_impression(
        self, route: str, ranking: str, experiment: str | None, variant: str | None
    ) -> None:
        self.impressions.labels(
            route if route in SHOWN_BY else OTHER,
            _ranking(ranking),
            *self.experiment_label(experiment, variant),
        ).inc()

    def observe_attributed(
        self, event_type: str, route: str, ranking: str, experiment: str | None, variant: str | None
    ) -> None:
        self.attributed.labels(
            event_type if event_type in EVENT_TYPES else OTHER,
            route if route in SHOWN_BY else OTHER,
            _ranking(ranking),
            *self.experiment_label(experiment, variant),
        ).inc()

    def observe_recommendation(self, kind: str, source: str) -> None:
        self.recommendations.labels(
            kind if kind in RECOMMENDATION_TYPES else OTHER, source if source in SOURCES else OTHER
        ).inc()

    def known_routes(self, routes: frozenset[str]) -> None:
        """The app's route templates; any other route label is folded into `unrouted`."""
        self._routes = routes

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        if self._routes is not None and route not in self._routes:
            route = UNMATCHED_ROUTE
        self.http_duration.labels(route, http_method(method), http_status(status)).observe(seconds)

    def observe_llm(
        self, outcome: str, seconds: float, calls: int, tokens: int, cache: str | None, backend: str
    ) -> None:
        outcome = llm_outcome(outcome)
        self.llm_requests.labels(outcome).inc()
        self.llm_duration.labels(outcome).observe(seconds)
        self.llm_calls.inc(calls)
        self.llm_tokens.inc(tokens)
        if cache is not None:
            self.cache.labels(
                backend if backend in CACHE_BACKENDS else OTHER, cache if cache in CACHE_RESULTS else OTHER
            ).inc()

    def observe_ungrounded(self, checks: Iterable[str]) -> None:
        for check in checks:
            self.llm_ungrounded.labels(check if check in CHECKS else OTHER).inc()

    def observe_rejected(self, reason: str) -> None:
        self.http_rejected.labels(reason if reason in REJECT_REASONS else OTHER).inc()

    def observe_catalog_rows(self, counts: dict[str, int], embedded: int) -> None:
        for result, count in counts.items():
            if count:
                self.catalog_rows.labels(result if result in ROW_RESULTS else OTHER).inc(count)
        self.catalog_embedded.inc(embedded)

    def set_catalog_counts(self, counts: dict[str, int]) -> None:
        """Products per catalog: the `max_catalogs` largest, the rest summed as `_other`;
        catalogs that are gone disappear (the gauge is rebuilt on each scrape)."""
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        self.index_products.clear()
        for name, count in ranked[: self._max_catalogs]:
            self.index_products.labels(name).set(count)
        rest = ranked[self._max_catalogs :]
        if rest:
            self.index_products.labels(OTHER_CATALOGS).set(sum(c for _, c in rest))

    def render(self) -> bytes:
        if self._multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def _ranking(ranking: str) -> str:
    return ranking if ranking in RANKINGS else OTHER


def http_method(method: str) -> str:
    return method if method in HTTP_METHODS else OTHER


def http_status(status: int) -> str:
    return str(status) if 100 <= status <= 599 else OTHER


def llm_outcome(outcome: str) -> str:
    if outcome == "llm_disabled":
        return "disabled"
    return outcome if outcome in LLM_OUTCOMES else OTHER


def write_ingest_metrics(path: str, catalog: str, counts: dict[str, int], seconds: float) -> None:
    """For `aisle ingest --metrics-file`: a batch job's counters in the node_exporter textfile
    format (write to a temp file, then rename, as the collector expects)."""
    from prometheus_client import write_to_textfile

    registry = CollectorRegistry()
    products = Gauge(
        "aisle_ingest_products",
        "Products in the last ingest run, by outcome",
        ["catalog", "outcome"],
        registry=registry,
    )
    for outcome, count in counts.items():
        products.labels(catalog, outcome).set(count)
    Gauge(
        "aisle_ingest_duration_seconds", "Duration of the last ingest run", ["catalog"], registry=registry
    ).labels(catalog).set(seconds)
    Gauge(
        "aisle_ingest_last_run_timestamp_seconds",
        "When the last ingest run finished",
        ["catalog"],
        registry=registry,
    ).labels(catalog).set_to_current_time()
    write_to_textfile(path, registry)
