"""The LLM stage: every LLM task (a search's re-rank and explain, the assistant's intent and reply,
a bundle's slots and composition) runs through one path, `LLMStage.run`:

    cache -> single-flight -> admission (breaker permit, bulkhead slot) -> retries (tenacity,
    bounded by the deadline) -> LLMClient -> validate (no string quotes the instructions; the
    task's own reading, grounded in the facts; one bounded re-ask on invalid output) -> cache

A task never raises: any failure is an `Answer` with no value and the fallback reason, and the
caller keeps its non-LLM result. Each run is bounded by an anyio cancel scope whose deadline is one
budget from now, or one the caller shares between tasks (a search's re-rank then explain), so a
slow LLM costs at most that budget, retries included. The shared upstream call runs in its own
task under the same deadline, so it too ends by then and gives back what admission lent it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

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
    LLMUngrounded,
)
from app.domain.grounding import quotes
from app.domain.llm import ChatMessage, LLMRequest, LLMUsage
from app.llm.gate import EvalGate
from app.llm.output import answer_strings
from app.llm.prompts import PromptTemplate
from app.llm.resilience import Bulkhead, CircuitBreaker, Permit, SingleFlight
from app.llm.task import Answer, Task
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
class _Meter:
    """Upstream calls and tokens of one task as they happen, retries and the re-ask included."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class _Call(Generic[T]):
    """One task rendered for one client, under one deadline (anyio's clock)."""

    client: LLMClient
    template: PromptTemplate
    task: Task[T]
    messages: tuple[ChatMessage, ...]
    schema: dict[str, object]
    deadline: float
    meter: _Meter

    def remaining(self) -> float:
        return self.deadline - anyio.current_time()


def task_key(template: PromptTemplate, model: str, parts: tuple[object, ...]) -> str:
    """Cache key of a task: the template version and model are always part of it."""
    blob = json.dumps([template.key, model, *parts], ensure_ascii=False, sort_keys=True, default=str)
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

    def proven(self, prompt: str) -> bool:
        """Whether a committed eval run measured that this prompt version, with this model, beats
        the non-LLM result (the gate behind a search's `"rerank": "auto"`)."""
        return self._client is not None and self._gate.allows(self._prompts[prompt].key, self._client.model)

    def deadline(self) -> float:
        """One budget from now on anyio's clock: tasks run with the same deadline share it."""
        return anyio.current_time() + self._settings.deadline_s

    async def run(self, task: Task[T], *, deadline: float | None = None) -> Answer[T]:
        """The task's validated answer, or None with the fallback reason; never raises."""
        if self._client is None:
            return Answer(None, LLMUsage(task.prompt, fallback="llm_disabled"))
        template = self._prompts[task.prompt]
        meter = _Meter()
        start = time.perf_counter()
        value: T | None = None
        hit = False
        fallback: str | None = None
        ungrounded: tuple[str, ...] = ()
        with anyio.CancelScope(deadline=self.deadline() if deadline is None else deadline) as scope:
            try:
                call = _Call(
                    self._client,
                    template,
                    task,
                    template.render(**task.values),
                    template.schema_with_enums(task.enums, task.max_items),
                    scope.deadline,
                    meter,
                )
                answered = await self._answer(call)
                value, hit = answered
            except LLMUngrounded as e:
                fallback, ungrounded = e.reason, (e.check,)
                log.info("llm_fallback", prompt=template.key, reason=e.reason, detail=str(e))
            except LLMUnavailable as e:
                fallback = e.reason
                log.info("llm_fallback", prompt=template.key, reason=e.reason, detail=str(e))
            except Exception as e:  # a task must never fail a request; a bug here is logged
                fallback = "llm_error"
                log.error("llm_task_error", prompt=template.key, exc_info=e)
        if scope.cancelled_caught:
            fallback = "timeout"
        usage = LLMUsage(
            task.prompt,
            fallback,
            "hit" if hit and fallback is None else "miss",
            (time.perf_counter() - start) * 1000.0,
            meter.calls,
            meter.prompt_tokens,
            meter.completion_tokens,
            ungrounded,
        )
        return Answer(value if fallback is None else None, usage)

    async def _answer(self, call: _Call[T]) -> tuple[T, bool]:
        """(validated value, cache hit?): from the cache, else from one shared upstream call."""
        key = task_key(call.template, call.client.model, call.task.key)
        with self._tracer.start_as_current_span("llm.cache_lookup") as span:
            cached = await self._cache.get(key)
            span.set_attribute("aisle.cache_hit", cached is not None)
            span.set_attribute("llm.prompt", call.template.key)
        if cached is not None:
            try:
                return self._validated(call, cached.decode()), True
            except LLMInvalidOutput:
                pass  # a stale or foreign entry: ask again

        async def upstream() -> tuple[T, str]:
            value, raw = await self._flight(call)
            # Written once, by the flight: the callers' deadlines cannot cut it, and followers do
            # not write the same entry again.
            await self._cache.set(key, raw.encode(), self._settings.cache_ttl_s)
            return value, raw

        (value, _raw), _shared = await self._flights.do(key, upstream)
        return value, False

    async def _flight(self, call: _Call[T]) -> tuple[T, str]:
        """One shared upstream call, bounded by its own deadline: it runs in its own task (the
        callers may leave), so nothing else would stop a server that never answers from holding
        its bulkhead slot, and the breaker's probe, for good."""
        if call.remaining() < _MIN_ATTEMPT_S:
            raise LLMTimeout("no time left for an LLM call")  # not admitted, so not an outcome
        with self._admitted() as permit:
            with anyio.CancelScope(deadline=call.deadline) as scope:
                return await self._consult(call)
            if scope.cancelled_caught and call.meter.calls == 0:
                permit.release()  # cut before the call started: it says nothing about the server
            raise LLMTimeout("the LLM call ran past its deadline")

    @contextmanager
    def _admitted(self) -> Iterator[Permit]:
        """The one gate in front of the LLM server: the breaker must admit the call and the
        bulkhead have room for it. The breaker's permit is resolved exactly once: success when
        the server answered (an answer we could not use still means it is up), failure on an
        availability error, released unused when the call never happened (the bulkhead refused
        it; a cancellation from outside, e.g. at shutdown)."""
        permit = self.breaker.admit()
        if permit is None:
            raise CircuitOpen("circuit breaker is open")
        with permit:
            slot = self.bulkhead.acquire()
            if slot is None:
                raise Overloaded("too many LLM calls in flight")  # the permit leaves unused
            with slot:
                try:
                    yield permit
                except LLMInvalidOutput:
                    permit.success()
                    raise
                except Exception:
                    permit.failure()
                    raise
                permit.success()

    @staticmethod
    def _validated(call: _Call[T], text: str) -> T:
        """The one place a task's value is produced: its own reading of the answer text, and
        the check every answer passes, whatever the task: no string in it quotes the task's
        instructions (an answer that does was steered by the text it was given; it is not
        re-asked)."""
        if quotes(answer_strings(text), call.template.system.template):
            raise LLMUngrounded("prompt_echo", "prompt", "the answer quotes the prompt's instructions")
        return call.task.parse(text)

    async def _consult(self, call: _Call[T]) -> tuple[T, str]:
        """(validated value, raw text): one completion, and one bounded re-ask if it is invalid."""
        text = await self._complete(call, call.messages)
        try:
            return self._validated(call, text), text
        except LLMInvalidOutput as first:
            if isinstance(first, LLMUngrounded) or call.remaining() < _MIN_ATTEMPT_S:
                raise  # an ungrounded answer is well-formed: asking again would not fix it
            retry = (
                *call.messages,
                ChatMessage("assistant", text[:2000]),
                ChatMessage(
                    "user", f"That answer was not usable ({first}). Reply with the JSON object only."
                ),
            )
            text = await self._complete(call, retry)
            return self._validated(call, text), text

    async def _complete(self, call: _Call[T], messages: tuple[ChatMessage, ...]) -> str:
        """The answer text, retrying transient failures while the deadline allows."""
        client, template = call.client, call.template
        async for attempt in AsyncRetrying(
            retry=self._retryable(call), stop=self._stop(call), wait=self._wait, reraise=True
        ):
            with attempt, self._tracer.start_as_current_span("llm.attempt") as span:
                call.meter.calls += 1
                span.set_attribute("llm.model", client.model)
                span.set_attribute("llm.prompt", template.key)
                span.set_attribute("llm.attempt", attempt.retry_state.attempt_number)
                try:
                    response = await client.complete(
                        LLMRequest(
                            messages,
                            template.name,
                            call.schema,
                            template.max_tokens,
                            timeout_s=max(call.remaining(), 0.001),
                            temperature=template.temperature,
                        )
                    )
                except LLMUnavailable as e:
                    span.set_attribute("llm.outcome", e.reason)
                    raise
                span.set_attribute("llm.outcome", "ok")
                span.set_attribute("llm.prompt_tokens", response.prompt_tokens)
                span.set_attribute("llm.completion_tokens", response.completion_tokens)
                call.meter.prompt_tokens += response.prompt_tokens
                call.meter.completion_tokens += response.completion_tokens
                text: str = response.text
                return text
        raise AssertionError("unreachable: tenacity re-raises")  # pragma: no cover

    @staticmethod
    def _retryable(call: _Call[T]) -> Callable[[RetryCallState], bool]:
        def decide(state: RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome else None
            if not isinstance(error, _TRANSIENT):
                return False
            if isinstance(error, LLMRateLimited) and error.retry_after_s is not None:
                return error.retry_after_s + _MIN_ATTEMPT_S < call.remaining()
            return True

        return decide

    def _stop(self, call: _Call[T]) -> Callable[[RetryCallState], bool]:
        def stop(state: RetryCallState) -> bool:
            return state.attempt_number >= self._settings.max_attempts or call.remaining() < _MIN_ATTEMPT_S

        return stop

    @staticmethod
    def _wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, LLMRateLimited) and error.retry_after_s is not None:
            return float(error.retry_after_s)
        return min(0.05 * 2.0 ** (state.attempt_number - 1), 0.4)
