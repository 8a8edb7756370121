"""Frames pushed by edge gateways on pw.frames, and their recognition.

A gateway that cannot run recognition sends JPEG frames (their envelope is the pw.frames codec,
`platewatch.codecs.frames`). The input is untrusted: an envelope over the size limit, one that does
not decode, or a JPEG that is not a usable image is refused with a reason (the agent quarantines it
on pw.deadletter and counts it), never a crash. Accepted frames go through the same recognize →
track path as captured ones, with one tracker per camera.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Counter

from platewatch.codecs import CodecError, Read
from platewatch.codecs.frames import MAX_FRAME_BYTES, FrameRejected, decode_edge_frame
from platewatch.engine.track import Tracker, TrackerConfig
from platewatch.engine.vision.types import Observation, VisionError

from .frame import Image
from .runner import encode_jpeg

EDGE_FRAMES = Counter("platewatch_edge_frames_total", "Frames received on pw.frames", ["camera"])
EDGE_REJECTED = Counter(
    "platewatch_edge_frames_rejected_total", "Frames quarantined from pw.frames", ["reason"]
)

Recognize = Callable[[Image, str | None], Awaitable[list[Observation]]]
Publish = Callable[[Read], Awaitable[None]]


def _decode_image(jpeg: bytes) -> Image:
    from platewatch.engine.vision.image import as_image

    if jpeg[:3] != b"\xff\xd8\xff":
        raise VisionError("not a JPEG")
    return as_image(jpeg)


class EdgeFrameProcessor:
    """Recognises and tracks edge frames, one tracker per camera."""

    def __init__(
        self,
        recognize: Recognize,
        publish: Publish,
        region_of: Callable[[str], str | None] = lambda _: None,
        tracker_config: TrackerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recognize, self.publish, self.region_of = recognize, publish, region_of
        self.tracker_config = tracker_config
        self.clock = clock
        self.trackers: dict[str, Tracker] = {}
        #: per camera: the last frame's captured_at and when (on `clock`) it was tracked
        self.last_frame: dict[str, tuple[float, float]] = {}
        #: the tracker runs in a thread for frames; the timer must not update it at the same time
        self._tracking = asyncio.Lock()

    async def process(self, data: bytes, max_bytes: int = MAX_FRAME_BYTES) -> list[Read]:
        """Recognise one message of pw.frames; raises `FrameRejected` for a message to quarantine."""
        try:
            frame = decode_edge_frame(data, max_bytes)
            image = await asyncio.to_thread(_decode_image, frame.jpeg)
        except FrameRejected as exc:
            EDGE_REJECTED.labels(exc.kind).inc()
            raise
        except (VisionError, CodecError) as exc:
            EDGE_REJECTED.labels("image").inc()
            raise FrameRejected("image", f"undecodable frame: {exc}") from None
        EDGE_FRAMES.labels(frame.camera_id).inc()
        region = self.region_of(frame.camera_id)
        reads = await self.recognize(image, region)
        tracker = self.trackers.get(frame.camera_id)
        if tracker is None:
            tracker = Tracker(
                frame.camera_id, self.tracker_config, encode_jpeg=encode_jpeg, region=region or ""
            )
            self.trackers[frame.camera_id] = tracker
        async with self._tracking:
            out: list[Read] = await asyncio.to_thread(tracker.update, reads, frame.captured_at, image)
            self.last_frame[frame.camera_id] = (frame.captured_at, self.clock())
        for read in out:
            await self.publish(read)
        return out

    async def tick(self) -> list[Read]:
        """Close passes of cameras whose gateway went quiet (called every second or so).

        A camera's passes live on its gateway's clock (captured_at), so its silence is measured
        on the worker's own clock since its last frame was tracked, and added to that frame's
        captured_at. Comparing wall time with captured_at instead would cut every pass short
        while a worker catches up on a backlog (or when the gateway's clock is behind).
        """
        out: list[Read] = []
        async with self._tracking:
            now = self.clock()
            for camera_id, tracker in self.trackers.items():
                captured_at, tracked_at = self.last_frame.get(camera_id, (0.0, now))
                out += tracker.update([], captured_at + max(0.0, now - tracked_at))
        for read in out:
            await self.publish(read)
        return out
