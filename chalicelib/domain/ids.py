"""Identifiers: random, URL-safe, and sortable by creation time where that helps."""
from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Optional


_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id() -> str:
    """A 26-character ULID-like id: 48 bits of milliseconds then 80 random bits."""
    return _encode((int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big"))


def digest(text: str) -> str:
    """The hex SHA-256 of `text`: the key under which a secret or a personal value is kept (a
    refresh token, a challenge session, an email typed at the login), so that a reader of the table
    learns nothing it could use."""
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def derived_id(*parts: str, at: Optional[datetime] = None) -> str:
    """A 26-character id that is always the same for the same parts: for what must exist once per
    natural key (the subscription a contract orders for a SKU), so that a second write of it is
    refused by the table (`attribute_not_exists`) rather than made twice. With `at`, it sorts by
    that instant as `new_id` does (its first 48 bits are the milliseconds), for records listed by
    id in time order (a subscription's changes)."""
    import hashlib

    digest = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:17], "big")
    if at is None:
        value = digest >> 6
    else:
        value = (int(at.timestamp() * 1000) << 80) | (digest & ((1 << 80) - 1))
    return _encode(value)


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))
