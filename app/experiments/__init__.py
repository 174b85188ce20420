"""The experiments use case: named A/B tests with deterministic assignment, and the online report
(CTR, add-to-cart and conversion rates with confidence intervals and significance tests)."""
