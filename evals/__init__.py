"""Offline evaluation runs (issue #4): not built yet.

The harness will call `app.domain.service.RecommendationService` through the same composition
root as the API. Until it lands, bench/foundation.py measures the foundation's latency figures.
"""
