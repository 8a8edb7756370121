"""msgpack encoding of Read and Alert with strict, version-checked decoding.

Encoding is a plain map (field name → value) so other languages can read the topics and
fields can be added without breaking old readers; decoding rejects unknown versions, missing
required fields and wrong types rather than guessing.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from .envelope import pack_map, unpack_map
from .errors import CodecError
from .messages import SCHEMA_VERSION, Alert, Read
from .typed_fields import typed_fields


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise CodecError(what)


def _read_from(obj: Any) -> Read:
    _check(isinstance(obj, dict), "read must be a map")
    data = typed_fields(Read, obj, "read")  # newer producers' extra fields are dropped
    for name in ("read_id", "camera_id"):
        _check(bool(data.get(name)), f"read.{name} must be a non-empty string")
    # Only a plate-less pass (a vehicle whose plate could not be read) has no plate text.
    if data.get("plateless"):
        _check(not data.get("plate"), "read.plate must be empty on a plateless read")
    else:
        _check(bool(data.get("plate")), "read.plate must be a non-empty string")
    try:
        uuid.UUID(data["read_id"])
    except ValueError:
        raise CodecError("read.read_id must be a UUID") from None
    for name in ("time", "confidence"):
        _check(name in data, f"read.{name} must be a finite number")
    _check(0.0 <= data["confidence"] <= 1.0, "read.confidence must be within 0..1")
    return Read(**data)


def encode_read(read: Read) -> bytes:
    return pack_map(asdict(read))


def decode_read(data: bytes) -> Read:
    try:
        return _read_from(unpack_map(data, SCHEMA_VERSION))
    except CodecError:
        raise
    except (TypeError, ValueError) as exc:
        raise CodecError(f"bad read: {exc}") from None


def encode_alert(alert: Alert) -> bytes:
    return pack_map(asdict(alert))


def decode_alert(data: bytes) -> Alert:
    obj = unpack_map(data, SCHEMA_VERSION)
    try:
        values = typed_fields(Alert, obj, "alert")
        read = obj.get("read")
        if isinstance(read, dict):
            read = {**read, "v": SCHEMA_VERSION} if "v" not in read else read
        values["read"] = _read_from(read)
        for name in ("alert_id", "hotlist", "entry", "match_kind"):
            _check(bool(values.get(name)), f"alert.{name} must be a non-empty string")
        _check("score" in values, "alert.score must be a number")
        _check(values.get("tier", "alert") in ("alert", "possible"), "alert.tier must be alert or possible")
        _check(all(p >= 0 for p in values.get("differs", ())), "alert.differs must be a list of positions")
        return Alert(**values)
    except CodecError:
        raise
    except (TypeError, ValueError) as exc:
        raise CodecError(f"bad alert: {exc}") from None
