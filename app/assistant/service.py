"""The assistant use case: a conversation in, grounded products and a short reply out.

    validate limits -> catalog vocabulary (facets, cached) -> intent (LLM, else the parser)
    -> retrieval (the search use case, category relaxed if nothing matches, optional price sort)
    -> ItemsReady event -> reply (LLM, grounded, else the template) -> ReplyToken events -> Finished

Each LLM task (intent, reply) runs through `LLMStage.run` (cache, single-flight, breaker,
bulkhead, deadline).
If the intent task fails, the reply task is not attempted: a slow or broken LLM then costs one
deadline, not two, and the fallback reason is the intent's.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from app.assistant.conversation import Turn, transcript, validate_conversation
from app.assistant.intent import (
    Intent,
    brand_hints,
    conversation_numbers,
    intent_from_llm,
)
from app.assistant.parser import IntentParser, shown_prices
from app.assistant.replies import template_reason, template_reply
from app.domain.errors import InvalidRequest, LLMInvalidOutput, LLMUngrounded
from app.domain.grounding import Facts, Grounds, Reasons, brand_names, ground_reasons, ground_reply
from app.domain.llm import LLMUsage
from app.domain.models import Filters, ScoredProduct
from app.domain.search import Ranking, RerankMode, RetrievalResult
from app.domain.statements import without_links
from app.domain.vocabulary import Vocabulary
from app.llm.output import compact_facts, extract_json, parse_reasons
from app.llm.stage import LLMStage
from app.llm.task import Task
from app.observability.timing import elapsed_ms
from app.ports import VectorIndex
from app.vocabularies import Vocabularies

MAX_LIMIT = 20
_SORT_POOL = 50  # a price sort re-orders the best this many matches, not the whole catalog
_PROMPT_CATEGORIES = 100
_TOKEN = re.compile(r"\S+\s*")


@dataclass(frozen=True, slots=True)
class Conversation:
    """A validated request, ready to run: errors surface before any streaming starts."""

    catalog: str
    turns: tuple[Turn, ...]
    limit: int
    vocabulary: Vocabulary
    parsed: Intent  # the deterministic reading: the fallback, and what reconciles the LLM's
    transcript: str  # the conversation as the LLM reads it
    user_text: str  # the shopper's own words, what brands and prices are grounded in
    started: float


@dataclass(slots=True)
class AssistantResult:
    reply: str = ""
    items: list[ScoredProduct] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    intent: Intent = field(default_factory=Intent)
    intent_source: Literal["llm", "parser"] = "parser"
    reply_source: Literal["llm", "template"] = "template"
    ranking: Ranking = "vector"
    fallback: str | None = None
    fallback_stage: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    llm: list[LLMUsage] = field(default_factory=list)  # one record per LLM task run

    def _flag(self, stage: str, reason: str | None) -> None:
        if reason is not None and self.fallback is None:
            self.fallback, self.fallback_stage = reason, stage


@dataclass(frozen=True, slots=True)
class ItemsReady:
    result: AssistantResult


@dataclass(frozen=True, slots=True)
class ReplyToken:
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    result: AssistantResult


AssistantEvent = ItemsReady | ReplyToken | Finished


def _ms(since: float) -> float:
    return round(elapsed_ms(since), 3)


def parse_reply(text: str, items: Sequence[ScoredProduct], grounds: Grounds) -> tuple[str, Reasons]:
    """The reply, grounded in the returned items (else the whole answer is `ungrounded_reply`),
    and the reasons, each grounded in its own item (one that is not is templated instead)."""
    data = extract_json(text)
    reply = data.get("reply") if isinstance(data, dict) else None
    if not isinstance(reply, str) or not reply.strip():
        raise LLMInvalidOutput('the answer has no "reply" text')
    grounded = ground_reply(reply, items, grounds)
    if grounded.failed is not None:
        raise LLMUngrounded(
            "ungrounded_reply", grounded.failed, f"the reply is not grounded ({grounded.failed})"
        )
    ids = [i.product.id for i in items]
    try:
        raw = parse_reasons(text, ids) if ids else {}
    except LLMInvalidOutput:
        raw = {}  # the reply can stand without reasons; templated ones fill in
    return grounded.text, ground_reasons(raw, {i.product.id: i.product for i in items}, grounds)


def reconcile(llm: Intent, parsed: Intent) -> Intent:
    """The LLM reads what is wanted (query, categories, attributes); explicit constraints the
    parser reads with certainty (a stated budget, a named or rejected brand, a sort word) are kept
    when the LLM left them out: small models drop them, and the shopper said them outright."""
    return replace(
        llm,
        price_min=llm.price_min if llm.price_min is not None else parsed.price_min,
        price_max=llm.price_max if llm.price_max is not None else parsed.price_max,
        brands=llm.brands or tuple(b for b in parsed.brands if b not in llm.exclude_brands),
        exclude_brands=tuple(dict.fromkeys((*llm.exclude_brands, *parsed.exclude_brands))),
        sort=llm.sort if llm.sort != "relevance" else parsed.sort,
    )


def intent_task(c: Conversation) -> Task[Intent]:
    """The shopper's intent, read by the LLM: only the catalog's categories, only brands the
    conversation names, only prices someone said (app/assistant/intent.py)."""
    hints = brand_hints(c.user_text, c.vocabulary)
    said = conversation_numbers(c.user_text) + [
        n for t in c.turns if t.role == "assistant" for n in shown_prices(t.content)
    ]
    categories = list(c.vocabulary.categories[:_PROMPT_CATEGORIES])
    enums = {
        k: v for k, v in {"categories": categories, "brands": hints, "exclude_brands": hints}.items() if v
    }
    return Task(
        "intent",
        {
            "conversation": c.transcript,
            "categories": json.dumps(categories, ensure_ascii=False),
            "brands": json.dumps(hints, ensure_ascii=False) if hints else "(none)",
        },
        lambda text: intent_from_llm(text, c.vocabulary, numbers=said, brands=hints, said=c.user_text),
        (c.catalog, c.transcript, categories, hints),
        enums=enums,
    )


def reply_task(c: Conversation, intent: Intent, items: Sequence[ScoredProduct]) -> Task[tuple[str, Reasons]]:
    """The reply text and a reason per returned item (only returned ids), grounded: the reply in
    the returned items, each reason in its own item; the shopper's words license names, brands,
    model numbers and amounts."""
    ids = [i.product.id for i in items]
    grounds = Grounds(Facts.of(c.user_text), brand_names(c.vocabulary.brands))
    return Task(
        "reply",
        {
            "conversation": c.transcript,
            "intent": json.dumps(intent.as_dict(), ensure_ascii=False),
            "products": compact_facts(items) or "(none)",
            "count": str(len(ids)),
        },
        lambda text: parse_reply(text, items, grounds),
        (c.catalog, c.transcript, [(i.product.id, i.content_hash) for i in items]),
        enums={"reasons": ids} if ids else {},
    )


class ProductSearch(Protocol):
    """What the assistant needs from the search use case (app/search/service.py)."""

    async def search(
        self, catalog: str, query: str, *, limit: int, filters: Filters, rerank: RerankMode
    ) -> RetrievalResult: ...


class AssistantService:
    def __init__(
        self,
        search: ProductSearch,
        index: VectorIndex,
        stage: LLMStage | None,
        *,
        vocabularies: Vocabularies | None = None,
    ) -> None:
        self._search = search
        self._index = index
        self._stage = stage if stage is not None and stage.enabled else None
        self._vocabularies = vocabularies or Vocabularies(index)
        self._parsers: dict[Vocabulary, IntentParser] = {}

    async def _vocabulary(self, catalog: str) -> tuple[Vocabulary, IntentParser]:
        vocabulary = await self._vocabularies.get(catalog)
        parser = self._parsers.get(vocabulary)
        if parser is None:
            self._parsers = {vocabulary: IntentParser(vocabulary)}  # one per live vocabulary is enough
            parser = self._parsers[vocabulary]
        return vocabulary, parser

    async def prepare(self, catalog: str, turns: Sequence[Turn], limit: int) -> Conversation:
        started = time.perf_counter()
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequest("limit", f"must be 1..{MAX_LIMIT}")
        valid = validate_conversation(turns)
        vocabulary, parser = await self._vocabulary(catalog)  # CatalogNotFound -> 404 here
        user_text = " ".join(t.content for t in valid if t.role == "user")
        # The parser reads words, not links or phone numbers: none of them becomes search text a
        # templated reply would echo ("I found 5 matches for http evil example ...").
        readable = [Turn(t.role, without_links(t.content)) for t in valid]
        return Conversation(
            catalog, valid, limit, vocabulary, parser.parse(readable), transcript(valid), user_text, started
        )

    async def respond(self, conversation: Conversation) -> AssistantResult:
        async for event in self.events(conversation):
            if isinstance(event, Finished):
                return event.result
        raise AssertionError("events() always ends with Finished")  # pragma: no cover

    async def events(self, c: Conversation) -> AsyncIterator[AssistantEvent]:
        result = AssistantResult()
        step = time.perf_counter()
        result.intent = await self._intent(c, result)
        result.timings["intent"] = _ms(step)
        await self._retrieve(c, result)
        result.timings["items_ready"] = _ms(c.started)
        yield ItemsReady(result)
        step = time.perf_counter()
        await self._reply(c, result)
        result.timings["reply"] = _ms(step)
        for token in _TOKEN.findall(result.reply):
            yield ReplyToken(token)
        result.timings["total"] = _ms(c.started)
        yield Finished(result)

    async def _intent(self, c: Conversation, result: AssistantResult) -> Intent:
        if self._stage is None:
            result._flag("intent", "llm_disabled")
            return c.parsed
        answer = await self._stage.run(intent_task(c))
        result.llm.append(answer.usage)
        if answer.value is None:
            result._flag("intent", answer.fallback)
            return c.parsed
        result.intent_source = "llm"
        return reconcile(answer.value, c.parsed)

    async def _retrieve(self, c: Conversation, result: AssistantResult) -> None:
        await self._retrieve_for(c, result, result.intent)
        if not result.items and result.intent_source == "llm" and c.parsed != result.intent:
            # The LLM's reading found nothing; if the parser's finds something, the shopper is
            # better served by it (small models over-constrain), and the response says so.
            tried = result.intent
            await self._retrieve_for(c, result, c.parsed)
            if result.items:
                result.intent_source = "parser"
                result._flag("intent", "empty_llm_intent")
            else:
                result.intent = tried  # nothing either way: report the reading that was used

    async def _retrieve_for(self, c: Conversation, result: AssistantResult, intent: Intent) -> None:
        depth = _SORT_POOL if intent.sort != "relevance" else c.limit
        query = intent.search_text or "products"
        found = await self._search.search(
            c.catalog, query, limit=max(depth, c.limit), filters=intent.filters(), rerank="auto"
        )
        if not found.items and intent.categories and not intent.brands:
            # The category was read from words (it may be wrong); a brand was asked for outright,
            # and other product types of that brand would be a worse answer than none.
            intent = intent.without_categories()
            found = await self._search.search(
                c.catalog, query, limit=max(depth, c.limit), filters=intent.filters(), rerank="auto"
            )
        items = list(found.items)
        if intent.sort != "relevance":
            priced = [i for i in items if i.product.price is not None]
            priced.sort(key=lambda i: i.product.price or 0.0, reverse=intent.sort == "price_desc")
            items = priced + [i for i in items if i.product.price is None]
        result.intent = intent
        result.items = items[: c.limit]
        result.ranking = found.ranking
        result.timings["embed"] = round(found.timings.embed_ms, 3)
        result.timings["search"] = round(found.timings.search_ms, 3)

    async def _reply(self, c: Conversation, result: AssistantResult) -> None:
        templated = {i.product.id: template_reason(result.intent, i) for i in result.items}
        if self._stage is None or result.intent_source != "llm":
            result.reply, result.reasons = template_reply(result.intent, result.items), templated
            return
        answer = await self._stage.run(reply_task(c, result.intent, result.items))
        usage = answer.usage
        if answer.value is None:  # failed, or the reply was not grounded (`ungrounded_reply`)
            result.llm.append(usage)
            result._flag("reply", usage.fallback)
            result.reply, result.reasons = template_reply(result.intent, result.items), templated
            return
        reply, reasons = answer.value
        if reasons.ungrounded:  # those items keep their templated reason, and the response says so
            checks = (*usage.ungrounded, *reasons.ungrounded.values())
            usage = replace(usage, fallback="ungrounded_reason", ungrounded=checks)
            result._flag("reply", usage.fallback)
        result.llm.append(usage)
        result.reply_source = "llm"
        result.reply = reply
        result.reasons = {**templated, **reasons.text}
