"""Edge frames on pw.frames: the envelope's checks and the recognize → track path, without a broker."""

from __future__ import annotations

import asyncio

import cv2
import msgpack
import numpy as np
import pytest

from platewatch.codecs import Read
from platewatch.codecs.frames import EdgeFrame, FrameRejected, decode_edge_frame, encode_edge_frame
from platewatch.engine.ingest.edge import EDGE_REJECTED, EdgeFrameProcessor
from platewatch.engine.ingest.frame import Image
from platewatch.engine.vision.types import Box, Observation


def _jpeg(h: int = 180, w: int = 320) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((h, w, 3), 120, np.uint8))
    assert ok
    return buf.tobytes()


def test_envelope_round_trip_and_refusals() -> None:
    frame = EdgeFrame("gw-1", 1000.5, _jpeg())
    assert decode_edge_frame(encode_edge_frame(frame)) == frame
    cases = {
        "oversize": encode_edge_frame(EdgeFrame("gw-1", 1.0, b"\xff\xd8\xff" + b"x" * 2000)),
        "envelope": b"\xc1garbage",
    }
    with pytest.raises(FrameRejected) as exc:
        decode_edge_frame(cases["oversize"], max_bytes=1000)
    assert exc.value.kind == "oversize"
    with pytest.raises(FrameRejected) as exc:
        decode_edge_frame(cases["envelope"])
    assert exc.value.kind == "envelope"
    for bad in ({"v": 2}, {"v": 1, "camera_id": "", "captured_at": 1.0, "jpeg": b"x"},
                {"v": 1, "camera_id": "a", "captured_at": float("nan"), "jpeg": b"x"},
                {"v": 1, "camera_id": "a", "captured_at": 1.0, "jpeg": "text"}):  # fmt: skip
        with pytest.raises(FrameRejected):
            decode_edge_frame(msgpack.packb(bad))


def test_processor_reads_frames_and_quarantines_undecodable_ones() -> None:
    out: list[Read] = []

    async def recognize(image: Image, region: str | None) -> list[Observation]:
        assert region == "eu"
        return [Observation("AB123CD", 0.97, (0.97,) * 7, (), Box(10, 10, 60, 15), 0.9, "eu")]

    async def publish(read: Read) -> None:
        out.append(read)

    clock = [50.0]
    processor = EdgeFrameProcessor(recognize, publish, region_of=lambda cid: "eu", clock=lambda: clock[0])

    async def main() -> None:
        before = EDGE_REJECTED.labels("image")._value.get()
        for i in range(3):
            await processor.process(encode_edge_frame(EdgeFrame("gw-1", 1000 + i / 10, _jpeg())))
        with pytest.raises(FrameRejected) as exc:
            await processor.process(encode_edge_frame(EdgeFrame("gw-1", 1000.3, b"\xff\xd8\xff\xe0broken")))
        assert exc.value.kind == "image"
        assert EDGE_REJECTED.labels("image")._value.get() == before + 1
        await processor.tick()  # the gateway sent a frame a moment ago: the pass goes on
        assert [r.provisional for r in out] == [True]
        clock[0] += 10.0
        await processor.tick()  # the gateway went quiet: its pass ends

    asyncio.run(main())
    assert [(r.plate, r.provisional, r.camera_id) for r in out] == [
        ("AB123CD", True, "gw-1"),
        ("AB123CD", False, "gw-1"),
    ]
    assert out[1].track_length == 3 and out[1].region == "eu"


def test_a_backlog_of_old_frames_is_one_pass_however_late_it_is_read() -> None:
    """A worker catching up on frames captured long ago (or a gateway whose clock is behind) must
    not have each pass cut by the timer: silence counts on the worker's clock, from the last frame."""
    out: list[Read] = []
    clock = [5_000_000.0]

    async def recognize(image: Image, region: str | None) -> list[Observation]:
        clock[0] += 0.4  # slower than the frames came: the backlog grows
        return [Observation("7ABC123", 0.95, (0.95,) * 7, (), Box(10, 10, 60, 15), 0.9, "us")]

    async def publish(read: Read) -> None:
        out.append(read)

    processor = EdgeFrameProcessor(recognize, publish, clock=lambda: clock[0])

    async def main() -> None:
        for i in range(8):
            await processor.process(encode_edge_frame(EdgeFrame("gw-2", 1000 + i / 10, _jpeg())))
            await processor.tick()
        assert not [r for r in out if not r.provisional]
        clock[0] += 10.0
        await processor.tick()

    asyncio.run(main())
    finals = [r for r in out if not r.provisional]
    assert [(r.plate, r.track_length) for r in finals] == [("7ABC123", 8)]
