"""The envelope of a message quarantined on `pw.deadletter`: the original bytes plus why."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import msgpack

from .envelope import pack_map
from .messages import SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class DeadLetter:
    source_topic: str
    partition: int
    offset: int
    reason: str
    payload: bytes
    key: bytes | None = None
    time: float = 0.0
    v: int = SCHEMA_VERSION


def encode_deadletter(letter: DeadLetter) -> bytes:
    data = asdict(letter)
    data["time"] = letter.time or time.time()
    return pack_map(data)


def decode_deadletter(data: bytes) -> DeadLetter:
    return DeadLetter(**msgpack.unpackb(data, raw=False))
