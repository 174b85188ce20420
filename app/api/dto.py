"""HTTP request and response bodies (msgspec Structs): the wire contract, validated on decode."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from app.assistant.conversation import MAX_TURN_CHARS, MAX_TURNS, Turn
from app.assistant.service import MAX_LIMIT, AssistantResult
from app.bundles.complements import MAX_SLOTS_PER_CATEGORY
from app.bundles.service import BundleQuery, BundleResult, BundleRules, Compose
from app.domain import product_ids
from app.domain.llm import CacheState
from app.domain.models import Filters, Product, ScoredProduct
from app.domain.search import Ranking, RerankMode

MAX_MAP_CATEGORIES = 2000  # anchor categories in one complement map (a large catalog has hundreds)
Limit = Annotated[int, msgspec.Meta(ge=1, le=100, description="number of items to return, 1..100")]
ProductId = product_ids.ProductId  # 1-200 characters, no '/' or control characters
IdList = Annotated[list[ProductId], msgspec.Meta(max_length=100)]
NameList = Annotated[
    list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]], msgspec.Meta(max_length=50)
]
Price = Annotated[float, msgspec.Meta(ge=0)]
Rerank = Annotated[
    RerankMode,
    msgspec.Meta(
        description="none: vector order; llm: LLM re-rank; auto: LLM only where evals proved it wins"
    ),
]


class FiltersIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    category: NameList = []
    brand: NameList = []
    price_min: Price | None = None
    price_max: Price | None = None
    in_stock: bool | None = None
    exclude_ids: IdList = []
    exclude_brand: NameList = []
    exclude_category: NameList = []

    def to_domain(self) -> Filters:
        return Filters(
            category=tuple(self.category),
            brand=tuple(self.brand),
            price_min=self.price_min,
            price_max=self.price_max,
            in_stock=self.in_stock,
            exclude_ids=tuple(self.exclude_ids),
            exclude_brand=tuple(self.exclude_brand),
            exclude_category=tuple(self.exclude_category),
        )


class SearchRequest(msgspec.Struct, forbid_unknown_fields=True):
    query: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    limit: Limit = 10
    filters: FiltersIn = msgspec.field(default_factory=FiltersIn)
    rerank: Rerank = "auto"
    explain: bool = False


class SimilarRequest(msgspec.Struct, forbid_unknown_fields=True):
    positive: Annotated[list[ProductId], msgspec.Meta(min_length=1, max_length=20)]
    negative: Annotated[list[ProductId], msgspec.Meta(max_length=20)] = []
    limit: Limit = 10
    filters: FiltersIn = msgspec.field(default_factory=FiltersIn)
    rerank: Rerank = "auto"
    explain: bool = False


class Item(msgspec.Struct, omit_defaults=True):
    id: str
    title: str
    brand: str
    category: str
    price: float | None
    currency: str
    in_stock: bool
    score: float
    reason: str | None = None

    @classmethod
    def of(cls, hit: ScoredProduct, reason: str | None = None) -> Item:
        p = hit.product
        return cls(
            p.id, p.title, p.brand, p.category, p.price, p.currency, p.in_stock, round(hit.score, 6), reason
        )


FallbackReason = Annotated[
    str,
    msgspec.Meta(
        description=(
            "why (part of) the LLM's answer was not used: llm_disabled, timeout, connection_error, "
            "rate_limited, server_error, rejected, invalid_output, circuit_open, overloaded, llm_error; "
            "prompt_echo (the answer quoted its instructions); ungrounded_reason (some item reasons or "
            "a bundle rationale stated what the product facts do not: the deterministic one is shown, "
            "or none in search); the assistant's ungrounded_intent (its search text was not the "
            "shopper's words: the parser's reading is used), ungrounded_reply, empty_llm_intent"
        )
    ),
]


class Fallback(msgspec.Struct, omit_defaults=True):
    reason: FallbackReason
    stage: str | None = None  # the assistant's step that fell back: "intent" or "reply"


class RankerOut(msgspec.Struct):
    """The learned ranking stage: the model that ordered the candidates, or why none did."""

    model: str | None
    fallback: str | None


class RetrievalResponse(msgspec.Struct):
    items: list[Item]
    ranking: Ranking
    fallback: Fallback | None
    cache: CacheState | None
    timings_ms: dict[str, float]
    ranker: RankerOut | None = None


class ProductOut(msgspec.Struct):
    id: str
    title: str
    brand: str
    description: str
    category: str
    price: float | None
    currency: str
    in_stock: bool
    attributes: dict[str, str | float | bool]

    @classmethod
    def of(cls, p: Product) -> ProductOut:
        return cls(
            p.id,
            p.title,
            p.brand,
            p.description,
            p.category,
            p.price,
            p.currency,
            p.in_stock,
            dict(p.attributes),
        )


class CatalogOut(msgspec.Struct):
    name: str
    product_count: int


class CatalogList(msgspec.Struct):
    catalogs: list[CatalogOut]


class Health(msgspec.Struct):
    status: str
    checks: dict[str, str] = {}


class ErrorBody(msgspec.Struct, omit_defaults=True):
    error: str
    message: str
    field: str | None = None
    request_id: str | None = None


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["user", "assistant"]
    content: Annotated[str, msgspec.Meta(max_length=MAX_TURN_CHARS)]


class AssistantRequest(msgspec.Struct, forbid_unknown_fields=True):
    messages: Annotated[list[MessageIn], msgspec.Meta(min_length=1, max_length=MAX_TURNS)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)] = 5
    stream: bool = False

    def turns(self) -> list[Turn]:
        return [Turn(m.role, m.content) for m in self.messages]


class IntentOut(msgspec.Struct, omit_defaults=True):
    query: str
    filters: dict[str, Any]  # Any, not object: msgspec has a JSON Schema for Any (app/api/openapi.py)
    sort: str
    source: str
    relaxed: list[str] = []


class AssistantResponse(msgspec.Struct):
    reply: str
    items: list[Item]
    intent: IntentOut
    ranking: Ranking
    fallback: Fallback | None
    timings_ms: dict[str, float]

    @classmethod
    def of(cls, r: AssistantResult, *, with_reasons: bool = True) -> AssistantResponse:
        intent = r.intent.as_dict()
        return cls(
            reply=r.reply,
            items=[Item.of(i, r.reasons.get(i.product.id) if with_reasons else None) for i in r.items],
            intent=IntentOut(
                intent["query"], intent["filters"], intent["sort"], r.intent_source, intent.get("relaxed", [])
            ),
            ranking=r.ranking,
            fallback=Fallback(r.fallback, r.fallback_stage) if r.fallback else None,
            timings_ms=dict(r.timings),
        )


class BudgetIn(msgspec.Struct, forbid_unknown_fields=True):
    max_total: Annotated[float, msgspec.Meta(gt=0)]


class RulesIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pin: Annotated[list[ProductId], msgspec.Meta(max_length=10)] = []
    exclude: IdList = []
    boost_brands: NameList = []


class BundleRequest(msgspec.Struct, forbid_unknown_fields=True):
    anchor_ids: Annotated[list[ProductId], msgspec.Meta(min_length=1, max_length=5)]
    slots: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]], msgspec.Meta(max_length=10)
    ] = []
    max_items: Annotated[int, msgspec.Meta(ge=1, le=10)] = 4
    budget: BudgetIn | None = None
    filters: FiltersIn = msgspec.field(default_factory=FiltersIn)
    rules: RulesIn = msgspec.field(default_factory=RulesIn)
    explain: bool = True
    compose: Compose = "llm"

    def to_domain(self) -> BundleQuery:
        return BundleQuery(
            anchor_ids=tuple(self.anchor_ids),
            slots=tuple(self.slots),
            max_items=self.max_items,
            max_total=self.budget.max_total if self.budget else None,
            filters=self.filters.to_domain(),
            rules=BundleRules(
                tuple(self.rules.pin), tuple(self.rules.exclude), tuple(self.rules.boost_brands)
            ),
            explain=self.explain,
            compose=self.compose,
        )


class FitOut(msgspec.Struct):
    """Why the item goes with the anchor (docs/bundles.md): `statement` (its maker's compatibility
    list names the anchor), `model` (its text names the anchor's model), `series`, `kind` (its
    text names the anchor's kind: "camera case"), `brand`."""

    kind: str
    evidence: str


class SlotOut(msgspec.Struct, omit_defaults=True):
    category: str
    item: Item | None
    alternatives: list[Item]
    reason: str | None = None
    pinned: bool = False
    fits_anchor: bool | None = None
    empty_because: str | None = None
    fit: FitOut | None = None


class PlanOut(msgspec.Struct, omit_defaults=True):
    source: str
    slots: list[str]
    sources: list[str] = []  # per slot, when the plan merges several maps


class BundleResponse(msgspec.Struct):
    anchor: list[ProductOut]
    slots: list[SlotOut]
    total_price: float
    rationale: str | None
    ranking: Ranking
    fallback: Fallback | None
    plan: PlanOut
    timings_ms: dict[str, float]

    @classmethod
    def of(cls, r: BundleResult) -> BundleResponse:
        return cls(
            anchor=[ProductOut.of(a) for a in r.anchors],
            slots=[
                SlotOut(
                    category=s.category,
                    item=Item.of(s.item) if s.item else None,
                    alternatives=[Item.of(a) for a in s.alternatives],
                    reason=s.reason,
                    pinned=s.pinned,
                    fits_anchor=s.fits_anchor,
                    empty_because=s.empty_because,
                    fit=FitOut(s.fit.kind, s.fit.evidence) if s.fit else None,
                )
                for s in r.slots
            ],
            total_price=r.total_price,
            rationale=r.rationale,
            ranking=r.ranking,
            fallback=Fallback(r.fallback) if r.fallback else None,
            plan=PlanOut(r.plan.source, list(r.plan.slots), list(r.plan.sources)),
            timings_ms=dict(r.timings),
        )


CategoryName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ComplementsIn(msgspec.Struct, forbid_unknown_fields=True):
    complements: Annotated[
        dict[CategoryName, Annotated[list[CategoryName], msgspec.Meta(max_length=MAX_SLOTS_PER_CATEGORY)]],
        msgspec.Meta(
            max_length=MAX_MAP_CATEGORIES, description="anchor category -> complementary categories"
        ),
    ]


class ComplementsOut(msgspec.Struct):
    merchandiser: dict[str, list[str]] | None
    learned: dict[str, list[str]] | None
    learned_from: str | None
