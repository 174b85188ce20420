"""The LLM stage: prompts, output validation, cache keys, breaker, bulkhead, single-flight and the
deadline-bounded orchestration that always falls back to the vector result."""
