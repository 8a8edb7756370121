"""The envelope every topic shares: a msgpack map that carries its schema version `v`.

Each topic's decoder starts here, so "is this a message at all" is decided one way for all of them:
bytes of a bounded size, msgpack, a map, the version this worker reads. Anything else is a
`CodecError` (the agents quarantine it on pw.deadletter), never a crash on hostile input.
"""

from __future__ import annotations

from typing import Any

import msgpack

from .errors import CodecError

#: Largest message decoded on any topic unless the topic sets its own limit (reads carry JPEGs).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class MessageTooLarge(CodecError):
    """A message over the size limit: refused before msgpack parses any of it."""


def pack_map(obj: dict[str, Any]) -> bytes:
    """A map as msgpack, bytes kept as bin (JPEGs) and str as str."""
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


def unpack_map(data: object, version: int, max_bytes: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """`data` as a map of schema `version`, or the `CodecError` that says why it is not one."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CodecError(f"expected bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise MessageTooLarge(f"message of {len(data)} bytes exceeds the limit of {max_bytes}")
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise CodecError(f"not msgpack: {type(exc).__name__}") from None
    if not isinstance(obj, dict):
        raise CodecError(f"expected a map, got {type(obj).__name__}")
    found = obj.get("v")
    if found != version:
        raise CodecError(f"unknown schema version {found!r} (this worker reads v{version})")
    return obj
