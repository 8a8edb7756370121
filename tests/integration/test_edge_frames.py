"""Edge gateways' JPEG frames on pw.frames → reads on pw.reads, through a real worker and broker.

A gateway sends a car passing (rendered frames with a known plate) plus three bad messages: one
over the configured size limit, one that is not msgpack, one whose JPEG is not an image. The
plate's provisional and final reads arrive; each bad message is on pw.deadletter with its reason
and counted in the worker's metrics; the good frames after the bad ones are still read.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer
from workers import WorkerProcess, produce, worker_env

from platewatch.codecs import DeadLetter, Read, decode_deadletter, decode_read
from platewatch.codecs.frames import EdgeFrame, encode_edge_frame
from platewatch.engine.bench.scenes import scene
from platewatch.engine.vision.runtime import has_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not has_model("plate_ocr.xml"), reason="the plate OCR model is not installed"),
]

PLATE = "5LMN678"
LIMIT = 150_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def worker(broker_url: str, database_url: str, redis_url: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    port = _free_port()
    env = worker_env(
        broker_url,
        database_url,
        redis_url,
        tmp_path / "data",
        f"pwe-{uuid.uuid4().hex[:8]}",
        PLATEWATCH_KAFKA__MAX_FRAME_BYTES=str(LIMIT),
        PLATEWATCH_KAFKA__WEB_PORT=str(port),
    )
    process = WorkerProcess(env, tmp_path / "worker.log")
    process.web_port = port  # type: ignore[attr-defined]
    yield process
    process.stop(signal.SIGKILL)
    print(process.log.read_text(errors="replace")[-4000:])


def _jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def _passing_car(camera: str, start: float) -> list[bytes]:
    """Eight frames of one car crossing a 1280x720 view, 0.1 s apart."""
    frames = []
    for i in range(8):
        image, _ = scene([(PLATE, "us", 180, (300 + 80 * i, 420))], width=1280, height=720, seed=4)
        frames.append(encode_edge_frame(EdgeFrame(camera, start + 0.1 * i, _jpeg(image))))
    return frames


async def _collect(bootstrap: str, until: float) -> tuple[list[Read], list[DeadLetter]]:
    consumer = AIOKafkaConsumer(
        "pw.reads", "pw.deadletter", bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    reads: list[Read] = []
    letters: list[DeadLetter] = []
    try:
        while time.monotonic() < until:
            batch = await consumer.getmany(timeout_ms=300)
            for tp, messages in batch.items():
                for m in messages:
                    if m.value is None:
                        continue
                    if tp.topic == "pw.reads":
                        reads.append(decode_read(m.value))
                    else:
                        letters.append(decode_deadletter(m.value))
            if len([r for r in reads if not r.provisional]) >= 1 and len(letters) >= 3:
                break
    finally:
        await consumer.stop()
    return reads, letters


def test_edge_frames_are_read_and_bad_ones_quarantined(worker: WorkerProcess, broker_url: str) -> None:
    bootstrap = broker_url.removeprefix("kafka://")
    worker.start()
    camera = "edge-gate-7"
    key = camera.encode()
    good = _passing_car(camera, time.time())
    noise = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    oversize = encode_edge_frame(EdgeFrame(camera, time.time(), _jpeg(noise, 95)))
    assert len(oversize) > LIMIT
    not_msgpack = b"\xc1\xc1 not a frame"
    not_jpeg = encode_edge_frame(EdgeFrame(camera, time.time(), b"\x89PNG\r\n\x1a\n not an image"))
    items = [(key, f) for f in good[:3]] + [(key, oversize), (key, not_msgpack), (key, not_jpeg)]
    items += [(key, f) for f in good[3:]]
    asyncio.run(produce(bootstrap, "pw.frames", items, max_request_size=4 * 1024 * 1024))

    reads, letters = asyncio.run(_collect(bootstrap, time.monotonic() + 150))

    finals = [r for r in reads if not r.provisional]
    assert [r.plate for r in finals] == [PLATE]
    assert finals[0].camera_id == camera and finals[0].track_length >= 6  # frames after the bad ones too
    assert any(r.provisional and r.plate == PLATE for r in reads)
    reasons = sorted(letter.reason for letter in letters)
    assert len(reasons) == 3, reasons
    assert any("exceeds the limit" in r for r in reasons)
    assert any("not msgpack" in r for r in reasons)
    assert any("undecodable frame" in r for r in reasons)
    assert all(letter.source_topic == "pw.frames" and letter.key == key for letter in letters)

    url = f"http://127.0.0.1:{worker.web_port}/metrics"  # type: ignore[attr-defined]
    metrics = urllib.request.urlopen(url, timeout=10).read().decode()
    for kind in ("oversize", "envelope", "image"):
        assert f'platewatch_edge_frames_rejected_total{{reason="{kind}"}} 1.0' in metrics
    assert f'platewatch_edge_frames_total{{camera="{camera}"}} 8.0' in metrics
