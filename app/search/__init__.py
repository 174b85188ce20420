"""The search use case: text search and similar items over the index, with the optional LLM step."""
