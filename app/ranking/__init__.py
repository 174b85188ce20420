"""The learned ranking stage: catalog statistics, query understanding, features, and the stage
that re-orders retrieval candidates with a `Ranker` model before the LLM stage (docs/evals.md)."""
