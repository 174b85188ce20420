"""API key tokens: `aisle_<id>_<secret>`, stored as a SHA-256 hash of the whole token.

The id (10 base32 characters) is public: it names the key in lists, logs and `DELETE
/v1/keys/{id}`, and finds the stored hash in one indexed lookup. The secret is 32 random bytes
(256 bits). Why a plain SHA-256 rather than bcrypt/scrypt/argon2: those are deliberately slow to
make guessing a *low-entropy human password* from a stolen hash expensive; a 256-bit random secret
cannot be guessed at any hashing speed, so slowness buys nothing and would cost ~50-100 ms of CPU
on every request, handing anyone who sends bogus keys a cheap denial of service. The hash is
compared in constant time (hmac.compare_digest), so response timing says nothing about it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

PREFIX = "aisle"
_ID = re.compile(r"^[a-z2-7]{10}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_key_id() -> str:
    return base64.b32encode(secrets.token_bytes(10)).decode().lower()[:10]


def new_token(key_id: str) -> str:
    """A fresh secret for `key_id`, shown to its owner once and never stored."""
    return f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def key_id_of(token: str) -> str | None:
    """The id inside a well-formed token, or None (then it cannot be a stored key)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not _ID.match(parts[1]) or not _SECRET.match(parts[2]):
        return None
    return parts[1]


def matches(token: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), secret_hash)
