"""Offline evaluation runs: every pipeline over labelled queries, metrics by ranx, reports, plots.

Pipelines call the same `RecommendationService` the API uses (built by `app.main`'s builders), so
what is measured is what is served. `aisle eval run|compare|gate` is the CLI (evals/cli.py).
"""
