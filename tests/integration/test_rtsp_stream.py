"""A real RTSP server on loopback serves the generated demo video; the camera runner reads it.

The server is the GStreamer RTSP server (Debian: gir1.2-gst-rtsp-server-1.0, gstreamer1.0-rtsp,
gstreamer1.0-plugins-good/bad, python3-gi), run by the system Python in a child process, so the
test can kill it mid-stream and start it again like a camera that reboots.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from platewatch.codecs import Read
from platewatch.engine.bench.demo import DemoVideo, generate
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.ingest.health import CameraHealth
from platewatch.engine.ingest.runner import CameraRunner
from platewatch.engine.plates import edit_distance
from platewatch.engine.vision.types import Observation

pytestmark = pytest.mark.slow

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER = r"""
import sys, gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer
Gst.init(None)
path, port = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f'( filesrc location="{path}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )'
)
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit("could not listen")
print("ready", flush=True)
GLib.MainLoop().run()
"""


def _gst_available() -> bool:
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RtspServer:
    def __init__(self, video: Path, port: int) -> None:
        self.video, self.port = video, port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, "-c", SERVER, str(self.video), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == b"ready", line

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoVideo:
    # The RTSP server sends the first seconds of a file as one burst (pre-roll), which a live client
    # rightly drops: the first car enters after it.
    path = tmp_path_factory.mktemp("demo") / "demo.mp4"
    return generate(path, width=640, height=360, fps=10, seconds=12, lead_s=3.5)


@pytest.fixture
def rtsp(demo: DemoVideo) -> Iterator[RtspServer]:
    if not _gst_available():
        pytest.skip(
            "GStreamer RTSP server missing: apt-get install gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp"
        )
    server = RtspServer(demo.path, free_port())
    server.start()
    yield server
    server.kill()


def matches(reads: list[Read], demo: DemoVideo) -> None:
    """One final read per pass, in order, each the pass's plate (the OCR may miss one character)."""
    finals = [r for r in reads if not r.provisional]
    assert len(finals) == len(demo.passes), [r.plate for r in finals]
    for read, expected in zip(finals, demo.passes, strict=True):
        assert edit_distance(read.plate, expected.plate) <= 1, (read.plate, expected.plate)
        assert read.crop_jpeg and read.crop_jpeg[:2] == b"\xff\xd8"
        assert read.overview_jpeg and read.overview_jpeg[:2] == b"\xff\xd8"
        assert read.track_length >= 3, [(r.plate, r.track_length, r.time) for r in reads]
    assert len({r.pass_id for r in finals}) == len(finals)
    provisional_passes = [r.pass_id for r in reads if r.provisional]
    assert len(provisional_passes) == len(set(provisional_passes))
    assert set(provisional_passes) <= {r.pass_id for r in finals}
    assert sum(r.plate == p.plate for r, p in zip(finals, demo.passes, strict=True)) >= len(finals) - 1


async def _run_until(runner: CameraRunner, done: asyncio.Event, timeout: float) -> None:
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(done.wait(), timeout)
    except TimeoutError:
        pass
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        # run() never raises for a camera's failure: it ends only by being cancelled.
        assert task.cancelled() or task.exception() is None, f"the runner failed: {task.exception()!r}"


def test_rtsp_camera_reads_each_pass_once(rtsp: RtspServer, demo: DemoVideo) -> None:
    reads: list[Read] = []
    health = CameraHealth("rtsp-1")

    async def main() -> None:
        done = asyncio.Event()

        async def publish(read: Read) -> None:
            reads.append(read)

        async def watch() -> None:  # the file ends after one play: the server closes the stream
            while health.outages == 0:
                await asyncio.sleep(0.1)
            done.set()

        spec = CameraSpec(id="rtsp-1", url=rtsp.url, fps=10, stall_timeout_s=3)
        runner = CameraRunner(spec, publish, health=health)
        watcher = asyncio.create_task(watch())
        await _run_until(runner, done, 40)
        watcher.cancel()

    asyncio.run(main())
    matches([r for r in reads if r.camera_id == "rtsp-1"], demo)
    assert health.frames_in >= 60


def test_rtsp_server_killed_and_restarted_the_camera_reconnects(rtsp: RtspServer) -> None:
    health = CameraHealth("rtsp-2")
    seen: list[float] = []

    async def no_plates(image: object, region: str | None) -> list[Observation]:
        seen.append(time.monotonic())
        return []

    async def publish(read: Read) -> None:
        pass

    async def main() -> dict[str, object]:
        spec = CameraSpec(id="rtsp-2", url=rtsp.url, fps=10, stall_timeout_s=1.5)
        runner = CameraRunner(spec, publish, no_plates, health=health)
        task = asyncio.create_task(runner.run())
        try:
            while health.frames_in < 10:
                await asyncio.sleep(0.1)
            rtsp.kill()
            await asyncio.sleep(3)
            during = health.snapshot()
            before = health.frames_in
            rtsp.start()
            deadline = time.monotonic() + 20
            while health.frames_in < before + 10 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert not task.done(), "the runner must survive the outage"
            return during
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    during = asyncio.run(main())
    assert during["connected"] is False
    assert isinstance(during["last_frame_age_s"], float) and during["last_frame_age_s"] >= 2.0
    assert during["outages"] == 1
    snap = health.snapshot()
    assert snap["connected"] is True
    assert int(str(snap["reconnects"])) >= 1
    assert health.frames_in >= 20
