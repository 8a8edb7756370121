"""msgpack codecs: round trips, and strict rejection of what must go to the dead-letter topic."""

import dataclasses
import uuid
from collections.abc import Callable

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from platewatch.codecs import (
    SCHEMA_VERSION,
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
from platewatch.codecs.cameras import decode_spec, encode_spec
from platewatch.codecs.frames import EdgeFrame, FrameRejected, decode_edge_frame, encode_edge_frame
from platewatch.engine.config.camera import CameraSpec


def make_read(**kw: object) -> Read:
    base: dict[str, object] = {
        "read_id": str(uuid.uuid4()),
        "camera_id": "cam-1",
        "time": 1_700_000_000.25,
        "plate": "7ABC123",
        "confidence": 0.93,
        "box": (10, 20, 120, 40),
        "char_confidences": (0.9, 0.95, 0.99, 0.9, 0.91, 0.97, 0.92),
        "candidates": (("7ABC123", 0.93), ("7A8C123", 0.04)),
        "crop_jpeg": b"\xff\xd8jpeg",
    }
    base.update(kw)
    return Read(**base)  # type: ignore[arg-type]


plates = st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=1, max_size=10)


@given(
    plate=plates,
    conf=st.floats(0, 1),
    t=st.floats(0, 4e9),
    cands=st.lists(st.tuples(plates, st.floats(0, 1)), max_size=5),
)
def test_read_round_trips(plate: str, conf: float, t: float, cands: list[tuple[str, float]]) -> None:
    read = make_read(plate=plate, confidence=conf, time=t, candidates=tuple(cands))
    assert decode_read(encode_read(read)) == read


def test_alert_round_trips_with_its_read() -> None:
    alert = Alert(
        alert_id="a1", read=make_read(), hotlist="stolen", entry="7ABC123", match_kind="fuzzy", score=0.8
    )
    assert decode_alert(encode_alert(alert)) == alert


def test_messages_carry_the_schema_version() -> None:
    assert msgpack.unpackb(encode_read(make_read()))["v"] == SCHEMA_VERSION


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not msgpack"),
        (b"\xc1", "not msgpack"),
        (msgpack.packb([1, 2, 3]), "expected a map"),
        (msgpack.packb({"v": 99, "read_id": "x"}), "unknown schema version 99"),
        (msgpack.packb({"read_id": "x"}), "unknown schema version None"),
    ],
)
def test_undecodable_messages_raise_codec_error_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        decode_read(payload)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("read_id", "not-a-uuid", "read_id must be a UUID"),
        ("plate", "", "plate must be a non-empty string"),
        ("camera_id", 5, "camera_id must be a string"),
        ("time", float("nan"), "time must be a finite number"),
        ("confidence", 1.5, "confidence must be within 0..1"),
        ("box", [1, 2, 3], "box must have 4 items"),
        ("candidates", [["A"]], r"candidates\[0\] must have 2 items"),
        ("crop_jpeg", "text", "crop_jpeg has the wrong type"),
    ],
)
def test_bad_fields_are_rejected(field: str, value: object, reason: str) -> None:
    data = msgpack.unpackb(encode_read(make_read()))
    data[field] = value
    with pytest.raises(CodecError, match=reason):
        decode_read(msgpack.packb(data, use_bin_type=True))


def test_fields_from_a_newer_producer_are_ignored() -> None:
    read = make_read()
    data = msgpack.unpackb(encode_read(read))
    data["paint_finish"] = "matte"
    assert decode_read(msgpack.packb(data, use_bin_type=True)) == read


def test_a_read_from_before_the_vehicle_fields_decodes_with_their_defaults() -> None:
    read = make_read()
    data = msgpack.unpackb(encode_read(read))
    for name in ("colour", "colour_confidence", "vehicle_type", "direction", "heading", "plateless"):
        del data[name]
    back = decode_read(msgpack.packb(data, use_bin_type=True))
    assert back == read and back.colour == "" and back.heading is None and not back.plateless


def test_vehicle_fields_round_trip_and_only_a_plateless_read_has_no_plate() -> None:
    read = dataclasses.replace(
        make_read(), colour="gray", colour_confidence=0.8, direction="approaching", heading=92.5
    )
    assert decode_read(encode_read(read)) == read
    plateless = dataclasses.replace(make_read(), plate="", plateless=True, colour="red")
    assert decode_read(encode_read(plateless)) == plateless
    with pytest.raises(CodecError, match="plate must be empty"):
        decode_read(encode_read(dataclasses.replace(make_read(), plateless=True)))


def test_deadletter_envelope_keeps_the_original_bytes() -> None:
    letter = DeadLetter(
        source_topic="pw.reads", partition=3, offset=42, reason="bad", payload=b"\x00\x01", key=b"k"
    )
    back = decode_deadletter(encode_deadletter(letter))
    assert (back.payload, back.reason, back.offset, back.key) == (b"\x00\x01", "bad", 42, b"k")
    assert back.time > 0


def test_edge_frame_envelope_is_byte_stable() -> None:
    # pw.frames v1 exactly as gateways already send it: keys, their order and the version stay.
    frame = EdgeFrame("gw-1", 1000.5, b"\xff\xd8\xffjpeg")
    encoded = encode_edge_frame(frame)
    assert encoded.hex() == (
        "84a17601a963616d6572615f6964a467772d31ab63617074757265645f6174cb408f440000000000a46a706567c407ffd8ff6a706567"
    )
    assert decode_edge_frame(encoded) == frame


@pytest.mark.parametrize("decode", [decode_read, decode_alert, decode_edge_frame, decode_spec])
@pytest.mark.parametrize(
    ("payload", "reason"),
    [(None, "expected bytes"), (b"\xc1", "not msgpack"), (msgpack.packb([1]), "expected a map")],
)
def test_every_topic_refuses_a_non_message_alike(
    decode: Callable[[bytes], object], payload: bytes, reason: str
) -> None:
    with pytest.raises(CodecError, match=reason):
        decode(payload)


def test_an_oversize_message_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(FrameRejected, match="exceeds the limit") as exc:
        decode_edge_frame(b"\xc1" * 2000, max_bytes=1000)
    assert exc.value.kind == "oversize"


def test_camera_definition_is_byte_stable() -> None:
    # pw.cameras v1 as workers and the database's camera list already hold it.
    spec = CameraSpec(
        id="gate-1",
        url="rtsp://cam/${CAM1_PASSWORD}@h/1",
        name="Gate",
        fps=5.0,
        region="us",
        roi=((0.0, 0.0), (1.0, 0.0), (1.0, 1.0)),
        motion_gate=True,
        direction="left",
        bearer_token="${TOK}",
    )
    encoded = encode_spec(spec)
    assert encoded.hex() == (
        "8da26964a6676174652d31a375726cbf727473703a2f2f63616d2f247b43414d315f50415353574f52447d40682f31a46e616d"
        "65a447617465a3667073cb4014000000000000a6726567696f6ea27573a7656e61626c6564c3a3726f699392cb000000000000"
        "0000cb000000000000000092cb3ff0000000000000cb000000000000000092cb3ff0000000000000cb3ff0000000000000ab6d"
        "6f74696f6e5f67617465c3ae727473705f7472616e73706f7274a3746370af7374616c6c5f74696d656f75745f73cb40240000"
        "00000000a9646972656374696f6ea46c656674ac6265617265725f746f6b656ea6247b544f4b7da17601"
    )
    assert decode_spec(encoded) == spec


def test_a_camera_position_round_trips_and_is_checked() -> None:
    spec = CameraSpec(
        id="gate-1",
        url="rtsp://cam/1",
        latitude=37.7793,
        longitude=-122.4193,
        address="1 Main St",
        heading=270,
    )
    assert decode_spec(encode_spec(spec)) == spec
    data = msgpack.unpackb(encode_spec(spec))
    for field, value in (("latitude", 91.0), ("heading", 361.0)):
        with pytest.raises(CodecError, match=field):
            decode_spec(msgpack.packb({**data, field: value}, use_bin_type=True))
    with pytest.raises(CodecError, match="both latitude and longitude"):
        decode_spec(msgpack.packb({k: v for k, v in data.items() if k != "longitude"}, use_bin_type=True))


def test_the_topic_refuses_a_camera_the_configuration_refuses() -> None:
    data = msgpack.unpackb(encode_spec(CameraSpec(id="gate-1", url="rtsp://cam/1")))
    data["colour"] = "red"  # a newer producer's field: ignored
    assert decode_spec(msgpack.packb(data, use_bin_type=True)).id == "gate-1"
    for field, value, reason in (
        ("id", "Gate 1", "camera id"),
        ("fps", 0, "fps"),
        ("url", "gopher://c", "scheme"),
    ):
        with pytest.raises(CodecError, match=reason):
            decode_spec(msgpack.packb({**data, field: value}, use_bin_type=True))
    with pytest.raises(CodecError, match="unknown schema version 2"):
        decode_spec(msgpack.packb({**data, "v": 2}, use_bin_type=True))
