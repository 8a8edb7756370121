"""A real WebRTC peer on loopback: aiortc serves the demo video over WHEP; the camera runner reads it.

The server is a small aiohttp app (the WHEP resource: POST an SDP offer, get the answer and a
session Location; DELETE ends it) whose peer plays the generated MP4 as a video track, in a thread
with its own event loop, as a separate server would be.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer

from platewatch.codecs import Read
from platewatch.engine.bench.demo import DemoVideo, generate
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.ingest.health import CameraHealth
from platewatch.engine.ingest.runner import CameraRunner
from platewatch.engine.plates import edit_distance

pytestmark = pytest.mark.slow


class WhepServer:
    """WHEP endpoint at /whep/cam serving `video` to every viewer."""

    def __init__(self, video: Path) -> None:
        self.video = video
        self.sessions: dict[str, RTCPeerConnection] = {}
        self.deleted = 0
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"whep+http://127.0.0.1:{self.port}/whep/cam"

    async def offer(self, request: web.Request) -> web.Response:
        if request.content_type != "application/sdp":
            return web.Response(status=415)
        pc = RTCPeerConnection()
        # not looped: aiortc's VP8 encoder rejects the frame where a looped MediaPlayer restarts
        player = MediaPlayer(str(self.video))
        pc.addTrack(player.video)  # type: ignore[arg-type]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=await request.text(), type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        sid = uuid.uuid4().hex
        self.sessions[sid] = pc
        return web.Response(
            status=201,
            text=pc.localDescription.sdp,
            content_type="application/sdp",
            headers={"Location": f"/whep/cam/{sid}"},
        )

    async def delete(self, request: web.Request) -> web.Response:
        pc = self.sessions.pop(request.match_info["sid"], None)
        if pc is None:
            return web.Response(status=404)
        self.deleted += 1
        await pc.close()
        return web.Response(status=200)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/whep/cam", self.offer)
        app.router.add_delete("/whep/cam/{sid}", self.delete)
        self._runner = web.AppRunner(app)
        self.loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(10)

    def stop(self) -> None:
        async def close() -> None:
            for pc in list(self.sessions.values()):
                await pc.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoVideo:
    path = tmp_path_factory.mktemp("demo") / "demo.mp4"
    return generate(path, width=640, height=360, fps=10, seconds=14, lead_s=1.0)


@pytest.fixture
def whep(demo: DemoVideo) -> Iterator[WhepServer]:
    server = WhepServer(demo.path)
    server.start()
    yield server
    server.stop()


def test_whep_camera_reads_arrive(whep: WhepServer, demo: DemoVideo) -> None:
    reads: list[Read] = []
    health = CameraHealth("whep-1")
    expected = {p.plate for p in demo.passes}

    async def main() -> None:
        done = asyncio.Event()

        async def publish(read: Read) -> None:
            reads.append(read)
            if len([r for r in reads if not r.provisional]) >= 2:
                done.set()

        spec = CameraSpec(id="whep-1", url=whep.url, fps=10, stall_timeout_s=5)
        runner = CameraRunner(spec, publish, health=health)
        task = asyncio.create_task(runner.run())
        try:
            await asyncio.wait_for(done.wait(), 45)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    finals = [r for r in reads if not r.provisional]
    assert len(finals) >= 2, [(r.plate, r.provisional) for r in reads]
    assert all(min(edit_distance(r.plate, e) for e in expected) <= 1 for r in finals)
    assert {r.plate for r in finals} & expected
    assert health.frames_in >= 20
    assert whep.deleted == 1, "the client ends its WHEP session with DELETE"
    assert health.reconnects == 0
