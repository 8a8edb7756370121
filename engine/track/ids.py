"""Read ids that are deterministic (replays give the same id) and ordered by time.

A read's id is the store's idempotency key and the first column of its primary key. Random ids
(uuid4, or a plain uuid5) land all over that btree: every insert touches a different leaf, and
after each checkpoint each of those leaves costs a full-page image in the WAL. An id that starts
with the read's time in milliseconds makes inserts append to the right edge of the index, like the
time column itself.

Layout (RFC 9562 UUIDv8, "custom"): 48 bits of Unix milliseconds, the version nibble 8, then 74
bits of SHA-1 over (namespace, name) around the variant bits. The name hash keeps two reads of the
same millisecond apart, and the same (name, time) always gives the same id.
"""

from __future__ import annotations

import hashlib
import uuid


def time_ordered_id(namespace: uuid.UUID, name: str, t: float) -> str:
    """The id of `name` (unique within `namespace`) for something that happened at Unix time `t`."""
    millis = max(0, min(int(t * 1000), (1 << 48) - 1))
    digest = int.from_bytes(hashlib.sha1(namespace.bytes + name.encode()).digest()[:10], "big")
    value = millis << 80 | (digest & ((1 << 80) - 1))
    value = (value & ~(0xF << 76)) | (0x8 << 76)  # version 8
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))
