"""The `frames` agent: JPEG frames from edge gateways on pw.frames → recognize → track → pw.reads.

Wiring only (engine/ingest/edge.py does the work). Rejected frames (oversize, bad envelope, not
a usable JPEG) are quarantined on pw.deadletter with their reason and counted. A timer closes the
passes of gateways that stopped sending.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import faust
from faust.types import StreamT

from platewatch.codecs import Read
from platewatch.codecs.frames import FrameRejected
from platewatch.engine.config import VisionConfig
from platewatch.engine.ingest.edge import EdgeFrameProcessor
from platewatch.engine.ingest.frame import Image
from platewatch.engine.vision.types import Observation

from .deadletter import DeadLetterSink
from .topics import Topics


def register_frame_agent(
    app: faust.App,
    topics: Topics,
    publish: Callable[[Read], Awaitable[None]],
    region_of: Callable[[str], str | None],
    max_frame_bytes: int,
    vision: VisionConfig,
    data_dir: Path,
) -> EdgeFrameProcessor:
    sink = DeadLetterSink(topics.deadletter)
    recognizer: dict[str, Any] = {}

    async def recognize(image: Image, region: str | None) -> list[Observation]:
        if "r" not in recognizer:  # loaded on the first edge frame: most sites have no gateways
            from platewatch.engine.ingest.runner import default_recognize

            recognizer["r"] = default_recognize(vision, data_dir)
        return cast(list[Observation], await recognizer["r"](image, region))

    processor = EdgeFrameProcessor(recognize, publish, region_of)

    @app.agent(topics.frames, name="frames")
    async def frames(stream: StreamT[bytes]) -> None:
        async for event in cast(faust.Stream[bytes], stream).events():
            try:
                await processor.process(cast(bytes, event.value), max_frame_bytes)
            except FrameRejected as exc:
                await sink.quarantine(event, exc.reason, kind=f"frame_{exc.kind}")

    async def close_quiet_passes() -> None:
        await processor.tick()

    cast(Any, app.timer(1.0))(close_quiet_passes)  # faust's decorators are untyped

    return processor
