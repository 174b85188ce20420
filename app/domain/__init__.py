"""Domain values, the error tree and pure rules: no use case, no I/O, no vendor library. Everything
above depends on it; it depends on nothing else in app/ (tests/unit/test_architecture.py)."""
