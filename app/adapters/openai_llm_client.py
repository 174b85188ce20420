"""`OpenAILLMClient`: chat completions through the official `openai` client (2.x, async) against
any OpenAI-compatible server (`LLM_BASE_URL`, `LLM_API_KEY`, `LLM_MODEL`).

The SDK's own retries are off (`max_retries=0`): the LLM stage is the single retry owner, bounded by
the request deadline. Vendor exceptions become the domain's `LLMUnavailable` subclasses here.
Each request carries the current span's W3C trace context (`traceparent`: the LLM stage's
`llm.attempt` span), so an LLM server that traces joins the caller's trace.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion
from opentelemetry import propagate

from app.domain.errors import (
    LLMConnectionError,
    LLMInvalidOutput,
    LLMRateLimited,
    LLMRejected,
    LLMServerError,
    LLMTimeout,
)
from app.domain.llm import LLMRequest, LLMResponse


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """`retry-after-ms` (OpenAI) or `Retry-After` in seconds; an HTTP date is ignored."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw:
            try:
                return max(0.0, float(raw) * scale)
            except ValueError:
                continue
    return None


class OpenAILLMClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        *,
        structured_output: bool = True,
        connect_timeout_s: float = 1.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._model = model
        self._structured = structured_output
        self._client = AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "unused",
            max_retries=0,
            timeout=httpx.Timeout(10.0, connect=connect_timeout_s),
            http_client=http_client,
        )
        # The SDK imports its resource modules on first access (~0.6 s measured here); do it now,
        # at start-up, rather than inside the first request's event-loop turn.
        self._completions = self._client.chat.completions

    @property
    def model(self) -> str:
        return self._model

    async def complete(self, request: LLMRequest) -> LLMResponse:
        kwargs: dict[str, Any] = {}
        if request.json_schema is not None and self._structured:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.schema_name,
                    "schema": dict(request.json_schema),
                    "strict": True,
                },
            }
        trace_headers: dict[str, str] = {}
        propagate.inject(trace_headers)  # nothing when no span is current
        if trace_headers:
            kwargs["extra_headers"] = trace_headers
        try:
            completion = await self._completions.create(
                model=self._model,
                messages=[{"role": m.role, "content": m.content} for m in request.messages],  # type: ignore[misc]
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                timeout=request.timeout_s,
                **kwargs,
            )
        except openai.APITimeoutError as e:
            raise LLMTimeout(f"LLM request timed out: {e}") from e
        except openai.APIConnectionError as e:
            raise LLMConnectionError(f"cannot reach the LLM server: {e}") from e
        except openai.RateLimitError as e:
            raise LLMRateLimited("LLM rate limited (429)", retry_after_seconds(e.response.headers)) from e
        except openai.APIStatusError as e:
            if e.status_code >= 500:
                raise LLMServerError(f"LLM server error {e.status_code}") from e
            raise LLMRejected(f"LLM rejected the request ({e.status_code})") from e
        except openai.APIError as e:  # e.g. a 200 whose body is not a completion
            raise LLMInvalidOutput(f"unreadable LLM response: {e}") from e
        if not isinstance(completion, ChatCompletion):  # a 200 whose body was not a completion
            raise LLMInvalidOutput(f"unreadable LLM response: {type(completion).__name__}")
        if not completion.choices:
            raise LLMInvalidOutput("the LLM returned no choices")
        message = completion.choices[0].message
        if getattr(message, "refusal", None):
            raise LLMInvalidOutput("the LLM refused to answer")
        text = (message.content or "").strip()
        if not text:
            raise LLMInvalidOutput("the LLM returned empty content")
        usage = completion.usage
        return LLMResponse(
            text=text,
            model=completion.model or self._model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    async def close(self) -> None:
        await self._client.close()
