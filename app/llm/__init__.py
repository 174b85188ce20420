"""The LLM stage: prompts, tasks, output readers, cache keys, breaker, bulkhead, single-flight and
the one deadline-bounded task path (`LLMStage.run`) whose every failure is an answer with a reason."""
