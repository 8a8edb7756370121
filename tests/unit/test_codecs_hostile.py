"""Hostile bytes into every topic's decoder (issue #24): whatever arrives, a decoder either returns a
message whose every field has its declared type (finite where it is a number) or raises `CodecError`,
which the agents quarantine on pw.deadletter. Any other exception would crash the agent's loop; a
wrongly typed field would crash whatever reads the message next.

The field-level tests walk the dataclasses' own fields, so a field added later is fuzzed too.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import asdict, fields, is_dataclass
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platewatch.codecs import (
    Alert,
    CodecError,
    DeadLetter,
    Read,
    decode_alert,
    decode_deadletter,
    decode_read,
    encode_alert,
    encode_deadletter,
    encode_read,
)
from platewatch.codecs.cameras import decode_spec
from platewatch.codecs.frames import EdgeFrame, decode_edge_frame, encode_edge_frame

READ = Read(
    read_id="0b7e6a51-7f2e-4b8e-9a51-2b0e3c1d4f5a",
    camera_id="cam-1",
    time=1_700_000_000.0,
    plate="7ABC123",
    confidence=0.93,
    box=(1, 2, 3, 4),
    char_confidences=(0.9,) * 7,
    candidates=(("7ABC123", 0.9), ("7A8C123", 0.05)),
    crop_jpeg=b"\xff\xd8jpeg",
)
ALERT = Alert(alert_id="a1", read=READ, hotlist="stolen", entry="7ABC123", match_kind="fuzzy", score=0.8)
LETTER = DeadLetter(source_topic="pw.reads", partition=0, offset=7, reason="not msgpack", payload=b"\x00")
FRAME = EdgeFrame(camera_id="cam-1", captured_at=1_700_000_000.0, jpeg=b"\xff\xd8jpeg")

DECODERS = {
    "read": decode_read,
    "alert": decode_alert,
    "deadletter": decode_deadletter,
    "edge frame": decode_edge_frame,
    "camera": decode_spec,
}
VALID = {
    "read": encode_read(READ),
    "alert": encode_alert(ALERT),
    "deadletter": encode_deadletter(LETTER),
    "edge frame": encode_edge_frame(FRAME),
}

# msgpack-able values of every kind a hostile producer could put in a field
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


def conforms(value: Any, hint: Any) -> bool:
    """Whether `value` has the declared type `hint` (numbers finite, tuples of the declared shape)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is float:
        return type(value) is float and math.isfinite(value)
    if hint is int:
        return type(value) is int
    if hint is bool:
        return type(value) is bool
    if hint in (str, bytes):
        return type(value) is hint
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(v, args[0]) for v in value)
        return len(value) == len(args) and all(conforms(v, a) for v, a in zip(value, args, strict=True))
    if origin is dict:
        return isinstance(value, dict) and all(
            conforms(k, args[0]) and conforms(v, args[1]) for k, v in value.items()
        )
    if is_dataclass(hint):
        return isinstance(value, hint) and well_typed(value)
    raise AssertionError(f"no conformance rule for {hint!r}")


def well_typed(message: Any) -> bool:
    hints = typing.get_type_hints(type(message))
    return all(conforms(getattr(message, f.name), hints[f.name]) for f in fields(message))


def decode_safely(name: str, data: bytes) -> Any:
    try:
        message = DECODERS[name](data)
    except CodecError:
        return None
    if name != "camera":  # the camera schema is a pydantic model that types itself
        assert well_typed(message), f"{name} decoded with a wrongly typed field: {message!r}"
    return message


@pytest.mark.parametrize("name", sorted(DECODERS))
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_codec_error(name: str, data: bytes) -> None:
    decode_safely(name, data)


@pytest.mark.parametrize("name", sorted(DECODERS))
@given(payload=values)
def test_arbitrary_msgpack_decodes_or_raises_codec_error(name: str, payload: Any) -> None:
    decode_safely(name, msgpack.packb(payload, use_bin_type=True))


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_truncation_of_a_valid_message_is_refused(name: str) -> None:
    data = VALID[name]
    for cut in range(len(data)):
        assert decode_safely(name, data[:cut]) is None, f"{name} cut at {cut} of {len(data)} decoded"


def _fields_of(message: Any) -> list[str]:
    return [f.name for f in fields(message)]


@pytest.mark.parametrize(
    ("name", "message", "encode"),
    [
        ("read", READ, encode_read),
        ("alert", ALERT, encode_alert),
        ("deadletter", LETTER, encode_deadletter),
        ("edge frame", FRAME, encode_edge_frame),
    ],
)
@settings(max_examples=400)
@given(data=st.data())
def test_any_field_set_to_anything_is_typed_or_refused(
    name: str, message: Any, encode: Any, data: Any
) -> None:
    obj = msgpack.unpackb(encode(message), raw=False)
    field_name = data.draw(st.sampled_from(_fields_of(message)))
    obj[field_name] = data.draw(values)
    decode_safely(name, msgpack.packb(obj, use_bin_type=True))


@settings(max_examples=300)
@given(data=st.data())
def test_an_alert_s_read_field_set_to_anything_is_typed_or_refused(data: Any) -> None:
    obj = asdict(ALERT)
    obj["read"][data.draw(st.sampled_from(_fields_of(READ)))] = data.draw(values)
    decode_safely("alert", msgpack.packb(obj, use_bin_type=True))
