"""Aisle: an LLM-augmented product recommendation API.

Importing this package has no side effects; `app.main.create_app` is the one composition root.
"""
