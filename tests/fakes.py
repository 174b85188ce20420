"""Working in-memory fakes of the ports, for fast tests of the use cases and the API.

`InMemoryVectorIndex` passes the same contract suite as the real adapters, so a test that passes
on it is a test of behaviour, not of a mock's script.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from app.adapters.memory_cache import MemoryCache
from app.adapters.payload import filter_key
from app.domain.complements import ComplementMap, ComplementSource
from app.domain.errors import CatalogNotFound, IndexIncompatible
from app.domain.filtering import admits
from app.domain.llm import LLMRequest, LLMResponse
from app.domain.models import (
    CatalogInfo,
    FacetField,
    IndexRecord,
    ScoredProduct,
    SparseVector,
    VectorQuery,
)
from app.llm.gate import EvalGate
from app.llm.prompts import PromptTemplate, load_prompts
from app.llm.resilience import Bulkhead, CircuitBreaker
from app.llm.stage import LLMStage, LLMStageSettings
from app.ports import Cache, LLMClient
from app.settings import PROMPTS_DIR

_TOKEN = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Bag of hashed words: texts sharing words are close, which is all the use cases need."""

    def __init__(self, dimension: int = 64) -> None:
        self._dimension = dimension
        self.calls = 0

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        out = []
        for text in texts:
            v = [0.0] * self._dimension
            for token in _TOKEN.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "big")
                v[h % self._dimension] += 1.0
            norm = math.sqrt(sum(x * x for x in v)) or 1.0
            out.append(
                [x / norm for x in v] if any(v) else [1.0 / math.sqrt(self._dimension)] * self._dimension
            )
        return out


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(y * y for y in b)) or 1.0
    return dot / (na * nb)


class InMemoryVectorIndex:
    def __init__(self) -> None:
        self._catalogs: dict[str, dict[str, IndexRecord]] = {}
        self._dimensions: dict[str, int] = {}
        self.closed = False
        self.optimized = 0
        self.flushes = 0

    def _catalog(self, catalog: str) -> dict[str, IndexRecord]:
        if catalog not in self._catalogs:
            raise CatalogNotFound(catalog)
        return self._catalogs[catalog]

    async def facet(self, catalog: str, field: FacetField, limit: int = 1000) -> dict[str, int]:
        counts = Counter(
            filter_key(r.product.category if field == "category" else r.product.brand)
            for r in self._catalog(catalog).values()
        )
        return {value: n for value, n in counts.most_common(limit) if value}

    async def query(self, catalog: str, query: VectorQuery) -> list[ScoredProduct]:
        records = [r for r in self._catalog(catalog).values() if admits(query.filters, r.product)]
        sparse = query.sparse
        if sparse is None or (not sparse.indices and query.positives):
            return self._dense(records, query)[: query.limit]
        lexical = self._lexical(self._catalog(catalog).values(), records, sparse)
        if not query.positives:
            return lexical[: query.limit]
        depth = max(query.fusion.depth, query.limit)
        fused: dict[str, float] = {}
        by_id: dict[str, ScoredProduct] = {}
        for weight, ranked in (
            (query.fusion.dense_weight, self._dense(records, query)[:depth]),
            (query.fusion.sparse_weight, lexical[:depth]),
        ):
            for rank, hit in enumerate(ranked):
                # Qdrant's weighted RRF: the weight stretches the rank, 1 / ((rank + 1) / w + k - 1).
                score = 0.0 if weight <= 0 else 1.0 / ((rank + 1.0) / weight + query.fusion.k - 1.0)
                fused[hit.product.id] = fused.get(hit.product.id, 0.0) + score
                by_id[hit.product.id] = hit
        order = sorted(fused, key=lambda i: fused[i], reverse=True)[: query.limit]
        return [ScoredProduct(by_id[i].product, fused[i], by_id[i].content_hash) for i in order]

    @staticmethod
    def _dense(records: list[IndexRecord], query: VectorQuery) -> list[ScoredProduct]:
        scored = []
        for record in records:
            if len(query.positives) == 1 and not query.negatives:
                score = _cosine(query.positives[0], record.vector)
            else:  # Qdrant's best_score recommendation strategy
                best_pos = max(_cosine(p, record.vector) for p in query.positives)
                best_neg = max((_cosine(n, record.vector) for n in query.negatives), default=-math.inf)
                score = _sigmoid(best_pos) if best_pos > best_neg else -_sigmoid(best_neg)
            scored.append(ScoredProduct(record.product, score, record.content_hash))
        scored.sort(key=lambda s: s.score, reverse=True)
        return scored

    @staticmethod
    def _lexical(
        everything: Iterable[IndexRecord], records: list[IndexRecord], q: SparseVector
    ) -> list[ScoredProduct]:
        """Dot product with Qdrant's IDF modifier: idf = ln(1 + (N - n + 0.5) / (n + 0.5))."""
        corpus = [dict(zip(r.sparse.indices, r.sparse.values, strict=True)) for r in everything if r.sparse]
        n_docs = len(corpus)
        idf = {
            t: math.log(1 + (n_docs - (n := sum(t in d for d in corpus)) + 0.5) / (n + 0.5))
            for t in q.indices
        }
        scored = []
        for record in records:
            if record.sparse is None:
                continue
            doc = dict(zip(record.sparse.indices, record.sparse.values, strict=True))
            score = sum(v * doc[t] * idf[t] for t, v in zip(q.indices, q.values, strict=True) if t in doc)
            if score > 0:
                scored.append(ScoredProduct(record.product, score, record.content_hash))
        scored.sort(key=lambda s: s.score, reverse=True)
        return scored

    async def retrieve(self, catalog: str, ids: Sequence[str]) -> list[IndexRecord]:
        records = self._catalog(catalog)
        return [records[i] for i in dict.fromkeys(ids) if i in records]

    async def catalogs(self) -> list[CatalogInfo]:
        return [CatalogInfo(name, len(records)) for name, records in sorted(self._catalogs.items())]

    async def ensure_catalog(self, catalog: str, dimension: int) -> bool:
        if catalog in self._dimensions and self._dimensions[catalog] != dimension:
            raise IndexIncompatible(f"catalog {catalog!r} holds {self._dimensions[catalog]}-d vectors")
        created = catalog not in self._catalogs
        self._catalogs.setdefault(catalog, {})
        self._dimensions[catalog] = dimension
        return created

    async def drop_catalog(self, catalog: str) -> bool:
        self._dimensions.pop(catalog, None)
        return self._catalogs.pop(catalog, None) is not None

    async def upsert(self, catalog: str, records: Sequence[IndexRecord]) -> None:
        target = self._catalog(catalog)
        for record in records:
            target[record.product.id] = record

    async def delete(self, catalog: str, ids: Sequence[str]) -> None:
        target = self._catalog(catalog)
        for i in ids:
            target.pop(i, None)

    async def flush(self, catalog: str) -> None:
        self._catalog(catalog)
        self.flushes += 1

    async def fingerprints(self, catalog: str, ids: Sequence[str] | None = None) -> dict[str, str]:
        records = self._catalog(catalog)
        wanted = records if ids is None else [i for i in ids if i in records]
        return {i: records[i].content_hash for i in wanted}

    async def optimize(self, catalog: str) -> None:
        self._catalog(catalog)
        self.optimized += 1

    async def close(self) -> None:
        self.closed = True


class InMemoryComplementStore:
    """A `ComplementStore` in a dict; passes the same contract suite as the file store."""

    def __init__(self) -> None:
        self._maps: dict[tuple[str, ComplementSource], ComplementMap] = {}

    async def get(self, catalog: str, source: ComplementSource) -> ComplementMap | None:
        return self._maps.get((catalog, source))

    async def put(self, catalog: str, value: ComplementMap) -> None:
        self._maps[(catalog, value.source)] = value


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class ScriptedLLM:
    """An `LLMClient` that answers from a script: each entry is a text to return, an exception to
    raise, a callable(request) -> text, or a dict of those by prompt name. The last entry repeats.
    Counts calls and reports `usage` (prompt, completion tokens). `started` is set when a call
    begins; with `hold`, every call then waits until the test sets it (an unset `hold` is an LLM
    that never answers); `delay_s` is plain latency. Passes the LLMClient contract suite."""

    def __init__(
        self,
        *script: object,
        model: str = "fake-model",
        delay_s: float = 0.0,
        hold: asyncio.Event | None = None,
        usage: tuple[int, int] = (100, 20),
    ) -> None:
        self._script = list(script) or ['{"ranking": []}']
        self._model = model
        self._usage = usage
        self.delay_s = delay_s
        self.hold = hold
        self.started = asyncio.Event()
        self.requests: list[LLMRequest] = []

    @property
    def model(self) -> str:
        return self._model

    @property
    def calls(self) -> int:
        return len(self.requests)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        self.started.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        step = self._script[min(len(self.requests) - 1, len(self._script) - 1)]
        if isinstance(step, dict):  # answers by prompt name: {"intent": ..., "reply": ...}
            step = step[request.schema_name]
        if isinstance(step, BaseException):
            raise step
        text = step(request) if callable(step) else str(step)
        prompt_tokens, completion_tokens = self._usage
        return LLMResponse(text, self._model, prompt_tokens, completion_tokens)

    async def close(self) -> None:
        pass


@functools.cache
def prompts() -> dict[str, PromptTemplate]:
    return load_prompts(PROMPTS_DIR)


def make_stage(
    llm: LLMClient | None = None,
    *,
    deadline_s: float = 1.0,
    candidates: int = 30,
    cache: Cache | None = None,
    gate: EvalGate | None = None,
    breaker: CircuitBreaker | None = None,
    bulkhead: Bulkhead | None = None,
) -> LLMStage:
    """The LLM stage the unit tests use: the real stage and prompts over a fake (or no) client."""
    return LLMStage(
        llm,
        cache or MemoryCache(),
        prompts(),
        LLMStageSettings(deadline_s=deadline_s, candidates=candidates),
        gate=gate,
        breaker=breaker or CircuitBreaker(),
        bulkhead=bulkhead,
    )


def chat_completion(
    content: str | None, refusal: str | None = None, *, prompt_tokens: int = 50, completion_tokens: int = 10
) -> dict[str, object]:
    """An OpenAI chat-completion response body, for respx-mocked upstreams."""
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "tiny",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content, "refusal": refusal},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class LinearRanker:
    """A `Ranker` scoring rows by a weighted sum of named features (NaN counts 0); `fail` makes
    it raise, `features` can be overridden to test a model trained on other features."""

    def __init__(
        self,
        weights: dict[str, float],
        *,
        fail: bool = False,
        version: str = "fake-linear",
        features: tuple[str, ...] | None = None,
    ) -> None:
        from app.ranking.features import FEATURES

        self._features = features or FEATURES
        self._weights = np.array([weights.get(f, 0.0) for f in self._features])
        self._fail = fail
        self._version = version
        self.calls = 0

    @property
    def version(self) -> str:
        return self._version

    @property
    def features(self) -> tuple[str, ...]:
        return self._features

    def score(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        self.calls += 1
        if self._fail:
            raise RuntimeError("model exploded")
        scores: NDArray[np.float64] = np.nan_to_num(rows, nan=0.0) @ self._weights
        return scores
