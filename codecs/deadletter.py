"""The envelope of a message quarantined on `pw.deadletter`: the original bytes plus why."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

from .envelope import pack_map, unpack_map
from .errors import CodecError
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
    """The letter in `data`, or `CodecError`: a tool reading pw.deadletter must not crash on the one
    message that is itself broken."""
    obj = unpack_map(data, SCHEMA_VERSION)
    for name in ("source_topic", "reason"):
        if not isinstance(obj.get(name), str):
            raise CodecError(f"deadletter.{name} must be a string")
    for name in ("partition", "offset"):
        if type(obj.get(name)) is not int:
            raise CodecError(f"deadletter.{name} must be an integer")
    if not isinstance(obj.get("payload"), bytes):
        raise CodecError("deadletter.payload must be bytes")
    key, when = obj.get("key"), obj.get("time", 0.0)
    if key is not None and not isinstance(key, bytes):
        raise CodecError("deadletter.key must be bytes or null")
    if not isinstance(when, int | float) or isinstance(when, bool) or not math.isfinite(when):
        raise CodecError("deadletter.time must be a finite number")
    return DeadLetter(
        source_topic=obj["source_topic"],
        partition=obj["partition"],
        offset=obj["offset"],
        reason=obj["reason"],
        payload=obj["payload"],
        key=key,
        time=float(when),
    )
