"""msgpack encoding of Read and Alert with strict, version-checked decoding.

Encoding is a plain map (field name → value) so other languages can read the topics and
fields can be added without breaking old readers; decoding rejects unknown versions, missing
required fields and wrong types rather than guessing.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, fields
from typing import Any

from .envelope import pack_map, unpack_map
from .errors import CodecError
from .messages import SCHEMA_VERSION, Alert, Read


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise CodecError(what)


def _read_from(obj: Any) -> Read:
    _check(isinstance(obj, dict), "read must be a map")
    known = {f.name for f in fields(Read)}
    data = {k: v for k, v in obj.items() if k in known}  # newer producers may add fields
    for name in ("read_id", "camera_id", "plate"):
        _check(
            isinstance(data.get(name), str) and bool(data[name]), f"read.{name} must be a non-empty string"
        )
    try:
        uuid.UUID(data["read_id"])
    except ValueError:
        raise CodecError("read.read_id must be a UUID") from None
    for name in ("time", "confidence"):
        value = data.get(name)
        _check(
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
            f"read.{name} must be a finite number",
        )
    _check(0.0 <= float(data["confidence"]) <= 1.0, "read.confidence must be within 0..1")
    try:
        if "box" in data:
            box = tuple(int(x) for x in data["box"])
            _check(len(box) == 4, "read.box must have 4 numbers")
            data["box"] = box
        if "char_confidences" in data:
            data["char_confidences"] = tuple(float(x) for x in data["char_confidences"])
        if "candidates" in data:
            data["candidates"] = tuple((str(t), float(s)) for t, s in data["candidates"])
    except CodecError:
        raise
    except (TypeError, ValueError):
        raise CodecError("read.box/char_confidences/candidates have the wrong shape") from None
    for name in ("crop_jpeg", "overview_jpeg"):
        _check(data.get(name) is None or isinstance(data[name], bytes), f"read.{name} must be bytes")
    data["time"] = float(data["time"])
    data["confidence"] = float(data["confidence"])
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
        known = {f.name for f in fields(Alert)}
        values = {k: v for k, v in obj.items() if k in known}
        read = obj.get("read")
        if isinstance(read, dict):
            read = {**read, "v": SCHEMA_VERSION} if "v" not in read else read
        values["read"] = _read_from(read)
        for name in ("alert_id", "hotlist", "entry", "match_kind"):
            _check(
                isinstance(values.get(name), str) and bool(values[name]),
                f"alert.{name} must be a non-empty string",
            )
        _check(isinstance(values.get("score"), int | float), "alert.score must be a number")
        _check(values.get("tier", "alert") in ("alert", "possible"), "alert.tier must be alert or possible")
        if "evidence" in values:
            evidence = values["evidence"]
            _check(
                isinstance(evidence, int | float) and not isinstance(evidence, bool),
                "alert.evidence must be a number",
            )
            values["evidence"] = float(evidence)
        if "differs" in values:
            differs = values["differs"]
            _check(
                isinstance(differs, list | tuple) and all(type(p) is int and p >= 0 for p in differs),
                "alert.differs must be a list of positions",
            )
            values["differs"] = tuple(differs)
        return Alert(**values)
    except CodecError:
        raise
    except (TypeError, ValueError) as exc:
        raise CodecError(f"bad alert: {exc}") from None
