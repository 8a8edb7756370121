"""Capture without a network: URLs, camera specs, the motion gate and ROI, health, the reconnect
policy of every source, the file source, and the camera runner with a stand-in recognizer."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from memory_source import MemorySource

from platewatch.codecs import CodecError, Read
from platewatch.codecs.cameras import decode_spec, encode_spec
from platewatch.engine.bench.demo import generate
from platewatch.engine.config.camera import CameraSpec, CameraUrlError, SourceKind, source_kind
from platewatch.engine.ingest import CameraHealth, Frame, Source, expand_credentials
from platewatch.engine.ingest import runner as runner_module
from platewatch.engine.ingest.av_source import AvSource
from platewatch.engine.ingest.gate import MotionGate, in_roi
from platewatch.engine.ingest.rate_cap import RateCap
from platewatch.engine.ingest.runner import CameraRunner, encode_jpeg
from platewatch.engine.redaction import redact_url
from platewatch.engine.vision.types import Box, Observation


def test_source_kinds() -> None:
    assert source_kind("rtsp://cam/1") is SourceKind.RTSP
    assert source_kind("rtsps://cam/1") is SourceKind.RTSP
    assert source_kind("whep+https://gw/cam/whep") is SourceKind.WHEP
    assert source_kind("http://cam/mjpg/video.mjpg") is SourceKind.MJPEG
    assert source_kind("file:///data/demo.mp4") is SourceKind.FILE
    assert source_kind("/data/demo.mp4") is SourceKind.FILE
    with pytest.raises(CameraUrlError):
        source_kind("ftp://cam")


def test_credentials_come_from_the_environment_and_are_never_shown() -> None:
    url = "rtsp://admin:${CAM_PW}@10.0.0.5/stream1"
    assert expand_credentials(url, {"CAM_PW": "s3cret"}) == "rtsp://admin:s3cret@10.0.0.5/stream1"
    with pytest.raises(CameraUrlError, match="CAM_PW"):
        expand_credentials(url, {})
    assert "s3cret" not in redact_url("rtsp://admin:s3cret@10.0.0.5/stream1")
    spec = CameraSpec(id="c1", url="rtsp://admin:s3cret@10.0.0.5/s", bearer_token="zq9token")
    assert "s3cret" not in str(spec.public()) and "zq9token" not in str(spec.public())


def test_camera_spec_round_trip_and_validation() -> None:
    spec = CameraSpec(id="gate-1", url="rtsp://cam/1", fps=5, roi=((0, 0), (1, 0), (1, 1)), motion_gate=True)
    assert decode_spec(encode_spec(spec)) == spec
    with pytest.raises(CodecError):
        decode_spec(b"\xc1")
    with pytest.raises(CodecError):
        decode_spec(encode_spec(spec).replace(b"rtsp", b"gopher"))
    with pytest.raises(ValueError):
        CameraSpec(id="x", url="rtsp://c", roi=((0, 0), (2, 0), (1, 1)))
    with pytest.raises(ValueError):
        CameraSpec(id="x", url="rtsp://c", direction="sideways")


def test_motion_gate() -> None:
    gate = MotionGate()
    still = np.full((360, 640, 3), 90, np.uint8)
    assert gate.moved(still)  # the first frame always counts
    assert not gate.moved(still.copy())
    moving = still.copy()
    moving[100:200, 200:350] = 250
    assert gate.moved(moving)


def _read(x: int, y: int, text: str = "ABC123", conf: float = 0.9) -> Observation:
    return Observation(text, conf, (conf,) * len(text), (), Box(x, y, 40, 20), 0.9, "us")


def test_region_of_interest_keeps_reads_inside_the_polygon() -> None:
    roi = ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0))  # lower half
    reads = [_read(100, 50), _read(100, 300)]
    assert in_roi(reads, roi, 640, 360) == [reads[1]]
    assert in_roi(reads, None, 640, 360) == reads


def test_jpeg_encoding_scales_overviews() -> None:
    import cv2

    data = encode_jpeg(np.zeros((1080, 1920, 3), np.uint8))
    assert data is not None and data[:2] == b"\xff\xd8"
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (720, 1280, 3)


class FlakySource(Source):
    """Fails to connect twice, then stalls once, then delivers frames: the reconnect policy's test."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("rtsp://user:pw@cam/1", backoff_base_s=0.01, backoff_cap_s=0.02, **kwargs)  # type: ignore[arg-type]
        self.sessions = 0

    async def _session(self) -> AsyncIterator[Frame]:
        self.sessions += 1
        if self.sessions <= 2:
            raise ConnectionRefusedError("connection refused to rtsp://user:pw@cam/1")
        image = np.zeros((16, 16, 3), np.uint8)
        yield Frame(image, time.time(), self._next_seq())
        if self.sessions == 3:
            await asyncio.sleep(10)  # silent: must be detected as a stall
        while True:
            await asyncio.sleep(0.01)
            yield Frame(image, time.time(), self._next_seq())


def test_source_reconnects_with_backoff_and_detects_stalls(caplog: pytest.LogCaptureFixture) -> None:
    health = CameraHealth("flaky")
    source = FlakySource(health=health, stall_timeout_s=0.2, open_timeout_s=0.2)

    async def take(n: int) -> list[Frame]:
        frames = source.frames()
        got = [f async for f in _limit(frames, n)]
        await frames.aclose()
        return got

    frames = asyncio.run(take(5))
    assert len(frames) == 5
    assert source.sessions == 4
    assert health.reconnects == 3
    assert health.outages == 2  # failing to connect at first is one outage; the stall is another
    assert health.connected
    assert "pw@" not in caplog.text and "refused" in caplog.text


async def _limit(frames: AsyncIterator[Frame], n: int) -> AsyncIterator[Frame]:
    async for frame in frames:
        yield frame
        n -= 1
        if n == 0:
            return


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(
        tmp_path_factory.mktemp("clip") / "clip.mp4", width=320, height=180, fps=10, seconds=2
    ).path


def test_file_source_plays_at_its_rate_loops_and_samples(clip: Path) -> None:
    async def main() -> tuple[list[Frame], float]:
        source = AvSource(str(clip), max_fps=5, health=CameraHealth("file"))
        frames = source.frames()
        start = time.monotonic()
        got = [f async for f in _limit(frames, 15)]  # 3 s at 5 fps: past the 2 s clip's end
        await frames.aclose()
        return got, time.monotonic() - start

    frames, took = asyncio.run(main())
    assert [f.seq for f in frames] == list(range(1, 16))
    assert frames[0].image.shape == (180, 320, 3)
    assert 2.0 < took < 5.0, took  # real time, sampled to 5 fps, looped
    assert all(b.captured_at >= a.captured_at for a, b in itertools.pairwise(frames))


def test_corrupt_file_is_retried_not_fatal(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    health = CameraHealth("bad")

    async def main() -> None:
        source = AvSource(str(bad), health=health, backoff_base_s=0.01, backoff_cap_s=0.02)
        frames = source.frames()
        task = asyncio.ensure_future(frames.__anext__())
        await asyncio.sleep(0.5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await frames.aclose()

    asyncio.run(asyncio.wait_for(main(), 20))
    assert health.reconnects >= 2 and health.errors >= 2 and health.frames_in == 0


def test_runner_tracks_reads_and_publishes_one_final_per_pass() -> None:
    out: list[Read] = []

    async def recognize(image: np.ndarray, region: str | None) -> list[Observation]:
        return [_read(40, 60, "7ABC123")] if image.shape[0] > 64 else []

    async def publish(read: Read) -> None:
        out.append(read)

    async def main() -> CameraRunner:
        spec = CameraSpec(id="mem", url="file:///mem")
        runner = CameraRunner(spec, publish, recognize, source=MemorySource(12))
        await runner.run()  # the source ends: the open pass is flushed
        return runner

    runner = asyncio.run(main())
    assert [(r.plate, r.provisional) for r in out] == [("7ABC123", True), ("7ABC123", False)]
    assert out[1].track_length == 12 and out[1].crop_jpeg and out[1].overview_jpeg
    assert runner.health.frames_processed == 12 and runner.health.reads == 2


def test_runner_survives_a_failing_recognizer_and_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "CLOSE_RESEND_S", 0.3)  # a broker that never comes back
    calls = 0

    async def recognize(image: np.ndarray, region: str | None) -> list[Observation]:
        nonlocal calls
        calls += 1
        if calls % 2:
            raise RuntimeError("inference failed")
        return [_read(40, 60, "7ABC123", 0.99)]

    async def publish(read: Read) -> None:
        raise ConnectionError("broker down")

    async def main() -> CameraRunner:
        runner = CameraRunner(
            CameraSpec(id="mem", url="file:///mem"), publish, recognize, source=MemorySource(6)
        )
        await runner.run()
        return runner

    runner = asyncio.run(main())
    assert runner.health.errors >= 4


def test_a_final_read_the_broker_refused_is_sent_again_once_it_answers() -> None:
    out: list[Read] = []
    refusals = 3

    async def recognize(image: np.ndarray, region: str | None) -> list[Observation]:
        return [_read(40, 60, "7ABC123")] if image.shape[0] > 64 else []

    async def publish(read: Read) -> None:
        nonlocal refusals
        if not read.provisional and refusals:
            refusals -= 1
            raise ConnectionError("broker restarting")
        out.append(read)

    async def main() -> CameraRunner:
        runner = CameraRunner(
            CameraSpec(id="mem", url="file:///mem"), publish, recognize, source=MemorySource(12)
        )
        await runner.run()
        return runner

    runner = asyncio.run(asyncio.wait_for(main(), 20))
    assert [(r.plate, r.provisional) for r in out] == [("7ABC123", True), ("7ABC123", False)]
    assert refusals == 0 and runner.health.errors == 3


@given(
    fps=st.sampled_from([5.0, 10.0, 15.0]),
    jitter=st.lists(st.floats(-0.45, 0.45), min_size=50, max_size=300),
)
def test_the_rate_cap_keeps_every_frame_of_a_camera_at_its_rate_whatever_the_jitter(
    fps: float, jitter: list[float]
) -> None:
    # frames due every 1/fps, each late or early by under half a frame's time: all kept
    cap = RateCap(fps)
    times = [(k + j) / fps for k, j in enumerate(jitter)]
    assert all(cap.admit(t) for t in sorted(times))


@given(
    fps=st.sampled_from([5.0, 10.0]),
    faster=st.sampled_from([2, 3, 6]),
    seconds=st.integers(2, 20),
)
def test_the_rate_cap_keeps_no_more_than_its_rate_and_one_burst(
    fps: float, faster: int, seconds: int
) -> None:
    cap = RateCap(fps)
    sent = int(seconds * fps * faster)
    kept = sum(cap.admit(k / (fps * faster)) for k in range(sent))
    assert kept <= fps * seconds + cap.burst + 1
    assert kept >= fps * seconds - 1  # and no fewer: the cap samples, it does not starve
    assert all(RateCap(None).admit(k / 100) for k in range(100))  # no cap: every frame
