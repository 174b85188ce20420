"""API keys, scopes, rate limits: the trust boundary (docs/security.md).

Pure parts (tokens, principal and policy, the token bucket) and the two services the edge uses
(Authenticator, KeyAdmin); the HTTP guard that applies them once per request is app/api/auth.py.
"""
