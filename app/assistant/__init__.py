"""The conversational shopping assistant: conversation -> intent -> retrieval -> grounded reply."""
