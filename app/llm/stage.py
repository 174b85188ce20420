"""The LLM stage: re-rank and/or explain vector candidates within one deadline, or fall back.

Order of operations for each LLM task (rerank, explain):
cache -> single-flight -> breaker -> bulkhead -> retries (tenacity, bounded by the deadline) ->
LLMClient -> parse + validate (one bounded re-ask on invalid output) -> cache.
Any failure returns the vector result flagged with its reason; the whole stage, retries included,
runs under one `anyio.fail_after(deadline)`, so a slow LLM costs at most the deadline.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar

import anyio
import structlog
from opentelemetry import trace
from tenacity import AsyncRetrying, RetryCallState

from app.domain.errors import (
    LLMConnectionError,
    LLMInvalidOutput,
    LLMRateLimited,
    LLMServerError,
    LLMTimeout,
    LLMUnavailable,
)
from app.domain.llm import CacheState, ChatMessage, LLMRequest
from app.domain.models import ScoredProduct
from app.domain.search import Ranking, RerankMode, normalize_query
from app.llm.gate import EvalGate
from app.llm.output import compact_facts, merge_ranking, parse_ranking, parse_reasons
from app.llm.prompts import PromptTemplate
from app.llm.resilience import Bulkhead, CircuitBreaker, SingleFlight
from app.ports import Cache, LLMClient

log = structlog.get_logger("aisle.llm")
T = TypeVar("T")

_TRANSIENT = (LLMConnectionError, LLMServerError, LLMRateLimited, LLMTimeout)
_MIN_ATTEMPT_S = 0.05  # not worth starting an attempt with less time than this left


class CircuitOpen(LLMUnavailable):
    reason = "circuit_open"


class Overloaded(LLMUnavailable):
    reason = "overloaded"


@dataclass(frozen=True, slots=True)
class LLMStageSettings:
    deadline_s: float = 2.0
    candidates: int = 30
    max_attempts: int = 3
    cache_ttl_s: float = 3600.0


@dataclass(slots=True)
class StageOutcome:
    items: list[ScoredProduct]
    ranking: Ranking = "vector"
    fallback: str | None = None
    cache: CacheState | None = None
    reasons: dict[str, str] = field(default_factory=dict)
    llm_ms: float = 0.0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(slots=True)
class Answer(Generic[T]):
    """The outcome of one free-form LLM task (`LLMStage.ask`): a validated value, or None with the
    fallback reason; the caller decides what its no-LLM answer is."""

    value: T | None = None
    fallback: str | None = None
    cache: CacheState | None = None
    llm_ms: float = 0.0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


_Usage: TypeAlias = "StageOutcome | Answer[Any]"  # whatever counts calls and tokens


class _Deadline:
    def __init__(self, budget_s: float) -> None:
        self.end = time.monotonic() + budget_s

    def remaining(self) -> float:
        return self.end - time.monotonic()


@dataclass(frozen=True, slots=True)
class _Ask(Generic[T]):
    """One question for the LLM: the rendered prompt, its answer schema and its parser."""

    template: PromptTemplate
    messages: tuple[ChatMessage, ...]
    schema: dict[str, object]
    parse: Callable[[str], T]


def cache_key(template: PromptTemplate, model: str, query: str, items: Sequence[ScoredProduct]) -> str:
    material = json.dumps(
        [
            template.key,
            model,
            normalize_query(query).casefold(),
            [(i.product.id, i.content_hash) for i in items],
        ],
        ensure_ascii=False,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def task_key(template: PromptTemplate, model: str, material: object) -> str:
    """Cache key of a free-form task: the template version and model are always part of it."""
    blob = json.dumps([template.key, model, material], ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class LLMStage:
    def __init__(
        self,
        client: LLMClient | None,
        cache: Cache,
        prompts: dict[str, PromptTemplate],
        settings: LLMStageSettings,
        *,
        gate: EvalGate | None = None,
        breaker: CircuitBreaker | None = None,
        bulkhead: Bulkhead | None = None,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self._tracer = tracer or trace.NoOpTracer()
        self._client = client
        self._cache = cache
        self._prompts = dict(prompts)
        self._rerank = prompts["rerank"]
        self._explain = prompts["explain"]
        self._settings = settings
        self._gate = gate or EvalGate()
        self.breaker = breaker or CircuitBreaker()
        self.bulkhead = bulkhead or Bulkhead(8)
        self._flights = SingleFlight()

    @property
    def candidate_depth(self) -> int:
        return self._settings.candidates

    @property
    def enabled(self) -> bool:
        return self._client is not None

    def prompt(self, name: str) -> PromptTemplate:
        return self._prompts[name]

    async def ask(
        self,
        prompt: str,
        values: Mapping[str, str],
        parse: Callable[[str], T],
        *,
        key_material: object,
        enums: Mapping[str, Sequence[str]] | None = None,
        max_items: Mapping[str, int] | None = None,
    ) -> Answer[T]:
        """One free-form task (intent, reply, bundle composition) under the same machinery as
        re-ranking: cache, single-flight, breaker, bulkhead, retries, one deadline, validation.
        Never raises: a failure is `Answer(value=None, fallback=reason)`."""
        answer: Answer[T] = Answer()
        if self._client is None:
            answer.fallback = "llm_disabled"
            return answer
        template = self._prompts[prompt]
        start = time.perf_counter()
        deadline = _Deadline(self._settings.deadline_s)
        try:
            with anyio.fail_after(self._settings.deadline_s):
                key = task_key(template, self._client.model, key_material)
                messages = template.render(**values)
                schema = template.schema_with_enums(enums or {}, max_items)
                value, hit = await self._task(template, messages, schema, key, deadline, answer, parse)
                answer.value = value
                answer.cache = "hit" if hit else "miss"
        except TimeoutError:
            answer.fallback = "timeout"
        except LLMUnavailable as e:
            answer.fallback = e.reason
            log.info("llm_fallback", prompt=template.key, reason=e.reason, detail=str(e))
        except Exception as e:  # a task must never fail a request; a bug here is logged
            answer.fallback = "llm_error"
            log.error("llm_task_error", prompt=template.key, exc_info=e)
        if answer.fallback is not None:
            answer.value = None
            answer.cache = answer.cache or "miss"
        answer.llm_ms = (time.perf_counter() - start) * 1000.0
        return answer

    def _auto_allows(self) -> bool:
        return self._client is not None and self._gate.allows(self._rerank.key, self._client.model)

    async def apply(
        self, query: str, items: list[ScoredProduct], *, rerank: RerankMode, explain: bool, limit: int
    ) -> StageOutcome:
        """`items` are the vector candidates, best first (at least `limit` of them when available)."""
        outcome = StageOutcome(items=items[:limit])
        do_rerank = rerank == "llm" or (rerank == "auto" and self._auto_allows())
        if not do_rerank and not explain:
            return outcome
        if self._client is None:
            outcome.fallback = "llm_disabled"
            return outcome
        start = time.perf_counter()
        deadline = _Deadline(self._settings.deadline_s)
        hits: list[bool] = []
        try:
            with anyio.fail_after(self._settings.deadline_s):
                if do_rerank:
                    pool = items[: self._settings.candidates]
                    ranked_ids, hit = await self._candidate_task(
                        self._rerank,
                        query,
                        pool,
                        deadline,
                        outcome,
                        lambda text: parse_ranking(text, [i.product.id for i in pool]),
                    )
                    hits.append(hit)
                    outcome.items = merge_ranking(pool, ranked_ids)[:limit] if pool else []
                    outcome.ranking = "llm"
                if explain and outcome.items:
                    shown = outcome.items
                    reasons, hit = await self._candidate_task(
                        self._explain,
                        query,
                        shown,
                        deadline,
                        outcome,
                        lambda text: parse_reasons(text, [i.product.id for i in shown]),
                    )
                    hits.append(hit)
                    outcome.reasons = reasons
        except TimeoutError:
            self._fail(outcome, items, limit, "timeout")
        except LLMUnavailable as e:
            self._fail(outcome, items, limit, e.reason)
            log.info("llm_fallback", reason=e.reason, detail=str(e))
        except Exception as e:  # the LLM stage must never fail a request; a bug here is logged
            self._fail(outcome, items, limit, "llm_error")
            log.error("llm_stage_error", exc_info=e)
        outcome.cache = "hit" if hits and all(hits) else "miss"
        outcome.llm_ms = (time.perf_counter() - start) * 1000.0
        return outcome

    @staticmethod
    def _fail(outcome: StageOutcome, items: list[ScoredProduct], limit: int, reason: str) -> None:
        outcome.items = items[:limit]
        outcome.ranking = "vector"
        outcome.reasons = {}
        outcome.fallback = reason

    async def _candidate_task(
        self,
        template: PromptTemplate,
        query: str,
        items: Sequence[ScoredProduct],
        deadline: _Deadline,
        outcome: StageOutcome,
        parse: Callable[[str], T],
    ) -> tuple[T, bool]:
        """A task over one query and a candidate list (re-rank, explain)."""
        assert self._client is not None
        messages = template.render(
            query=normalize_query(query), candidates=compact_facts(items), count=str(len(items))
        )
        schema = template.schema_with_ids([i.product.id for i in items])
        key = cache_key(template, self._client.model, query, items)
        return await self._task(template, messages, schema, key, deadline, outcome, parse)

    async def _task(
        self,
        template: PromptTemplate,
        messages: tuple[ChatMessage, ...],
        schema: dict[str, object],
        key: str,
        deadline: _Deadline,
        outcome: _Usage,
        parse: Callable[[str], T],
    ) -> tuple[T, bool]:
        """(validated answer, cache hit?) for one rendered prompt."""
        with self._tracer.start_as_current_span("llm.cache_lookup") as span:
            cached = await self._cache.get(key)
            span.set_attribute("aisle.cache_hit", cached is not None)
            span.set_attribute("llm.prompt", template.key)
        if cached is not None:
            try:
                return parse(cached.decode()), True
            except LLMInvalidOutput:
                pass  # a stale or foreign entry: ask again
        ask = _Ask(template, messages, schema, parse)

        async def call() -> tuple[T, str]:
            return await self._guarded(ask, deadline, outcome)

        (value, raw), _shared = await self._flights.do(key, call)
        await self._cache.set(key, raw.encode(), self._settings.cache_ttl_s)
        return value, False

    async def _guarded(self, ask: _Ask[T], deadline: _Deadline, outcome: _Usage) -> tuple[T, str]:
        if not self.breaker.allow():
            raise CircuitOpen("circuit breaker is open")
        if not self.bulkhead.try_acquire():
            raise Overloaded("too many LLM calls in flight")
        success = False
        try:
            answer = await self._ask(ask, deadline, outcome)
            success = True
            return answer
        except LLMInvalidOutput:
            success = True  # the server answered: availability is fine, the answer was not
            raise
        finally:
            self.bulkhead.release()
            self.breaker.record(success)

    async def _ask(self, ask: _Ask[T], deadline: _Deadline, outcome: _Usage) -> tuple[T, str]:
        assert self._client is not None
        client = self._client
        template, messages, schema, parse = ask.template, ask.messages, ask.schema, ask.parse

        async def once(conversation: tuple[ChatMessage, ...]) -> str:
            async for attempt in AsyncRetrying(
                retry=self._retryable(deadline), stop=self._stop(deadline), wait=self._wait, reraise=True
            ):
                with attempt, self._tracer.start_as_current_span("llm.attempt") as span:
                    outcome.calls += 1
                    span.set_attribute("llm.model", client.model)
                    span.set_attribute("llm.prompt", template.key)
                    span.set_attribute("llm.attempt", attempt.retry_state.attempt_number)
                    try:
                        response = await client.complete(
                            LLMRequest(
                                conversation,
                                template.name,
                                schema,
                                template.max_tokens,
                                timeout_s=max(deadline.remaining(), 0.001),
                                temperature=template.temperature,
                            )
                        )
                    except LLMUnavailable as e:
                        span.set_attribute("llm.outcome", e.reason)
                        raise
                    span.set_attribute("llm.outcome", "ok")
                    span.set_attribute("llm.prompt_tokens", response.prompt_tokens)
                    span.set_attribute("llm.completion_tokens", response.completion_tokens)
                    outcome.prompt_tokens += response.prompt_tokens
                    outcome.completion_tokens += response.completion_tokens
                    text: str = response.text
                    return text
            raise AssertionError("unreachable: tenacity re-raises")  # pragma: no cover

        text = await once(messages)
        try:
            return parse(text), text
        except LLMInvalidOutput as first:
            if deadline.remaining() < _MIN_ATTEMPT_S:
                raise
            # One bounded re-ask, quoting the problem; never more.
            retry = (
                *messages,
                ChatMessage("assistant", text[:2000]),
                ChatMessage(
                    "user", f"That answer was not usable ({first}). Reply with the JSON object only."
                ),
            )
            text = await once(retry)
            return parse(text), text

    def _retryable(self, deadline: _Deadline) -> Callable[[RetryCallState], bool]:
        def decide(state: RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome else None
            if not isinstance(error, _TRANSIENT):
                return False
            if isinstance(error, LLMRateLimited) and error.retry_after_s is not None:
                return error.retry_after_s + _MIN_ATTEMPT_S < deadline.remaining()
            return True

        return decide

    def _stop(self, deadline: _Deadline) -> Callable[[RetryCallState], bool]:
        def stop(state: RetryCallState) -> bool:
            return (
                state.attempt_number >= self._settings.max_attempts or deadline.remaining() < _MIN_ATTEMPT_S
            )

        return stop

    @staticmethod
    def _wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, LLMRateLimited) and error.retry_after_s is not None:
            return float(error.retry_after_s)
        return min(0.05 * 2.0 ** (state.attempt_number - 1), 0.4)
