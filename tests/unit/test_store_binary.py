"""The hand-made binary COPY stream: the layout PostgreSQL expects, and times from one function."""

from __future__ import annotations

import struct
import uuid

from hypothesis import given
from hypothesis import strategies as st

from platewatch.codecs import Read
from platewatch.engine.store.copy_writer import COPY_COLUMNS, encode_binary
from platewatch.engine.store.reads import epoch_micros, read_days, read_time


def test_stream_layout() -> None:
    rid = str(uuid.uuid4())
    data = encode_binary(
        [Read(read_id=rid, camera_id="cam", time=946684800.25, plate="ab-1", confidence=0.5)]
    )
    assert data.startswith(b"PGCOPY\n\xff\r\n\x00" + bytes(8)) and data.endswith(b"\xff\xff")
    row = data[19:]
    assert struct.unpack("!h", row[:2])[0] == len(COPY_COLUMNS)
    assert struct.unpack("!i", row[2:6])[0] == 16 and row[6:22] == uuid.UUID(rid).bytes
    assert struct.unpack("!iq", row[22:34]) == (8, 250_000)  # µs after 2000-01-01
    assert row[-6:-2] == b"\xff\xff\xff\xff"  # image_key NULL: no images


def test_times_are_the_same_microsecond_on_every_path() -> None:
    for t in (1764288000.123456, 1764288000.9999995, 0.1 + 0.2):
        assert int(read_time(t).timestamp() * 1_000_000 + 0.5) == epoch_micros(t)


@given(st.lists(st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False), min_size=1, max_size=20))
def test_partition_days_are_the_days_of_the_stored_times(times: list[float]) -> None:
    reads = [Read(str(uuid.uuid4()), "cam", t, "7ABC123", 0.9) for t in times]
    assert read_days(reads) == {read_time(t).date() for t in times}
