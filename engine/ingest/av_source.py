"""RTSP, HTTP MJPEG and video files through FFmpeg (PyAV), decoded in a thread.

FFmpeg already speaks every camera protocol that matters (RTSP over TCP or UDP, RTSPS, multipart
MJPEG) and every codec (H.264, H.265, MJPEG). PyAV releases the GIL while it demuxes and decodes,
so one thread per camera keeps the event loop free; only the frames kept by the fps sampler are
converted to BGR arrays, which is most of the cost of a 1080p frame after decoding.

Live streams are not paced (frames are taken as they come and the newest win when the consumer
is slow); files are played at their own frame rate, looped, so a file behaves like a camera.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import av

from platewatch.engine.config.camera import SourceKind, source_kind
from platewatch.engine.config.choices import RTSP_TRANSPORTS, one_of

from .frame import Frame
from .rate_cap import RateCap
from .source import Source, StreamEnded
from .urls import expand_credentials, file_path

log = logging.getLogger(__name__)

_Item = Frame | BaseException | None
#: Corrupt packets in a row after which the connection is treated as broken and reopened.
MAX_BAD_PACKETS = 50


class AvSource(Source):
    """A camera read by FFmpeg. `rtsp_transport`: ``tcp`` (gets through NAT and firewalls) or ``udp``."""

    def __init__(
        self,
        url: str,
        *,
        rtsp_transport: str = "tcp",
        loop_file: bool = True,
        read_timeout_s: float = 5.0,
        queue_size: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(url, **kwargs)
        if rtsp_transport not in RTSP_TRANSPORTS:
            raise ValueError(f"rtsp_transport must be {one_of(RTSP_TRANSPORTS)}, not {rtsp_transport!r}")
        self.kind = source_kind(url)
        if self.kind is SourceKind.WHEP:
            raise ValueError("WHEP URLs are read by WhepSource")
        self.rtsp_transport = rtsp_transport
        self.loop_file = loop_file
        self.read_timeout_s = read_timeout_s
        self.queue_size = queue_size

    def _open(self) -> Any:
        options: dict[str, str] = {}
        fmt: str | None = None
        if self.kind is SourceKind.FILE:
            target = str(file_path(self.url))
        else:
            target = expand_credentials(self.url)
            options.update(fflags="nobuffer", flags="low_delay")
            if self.kind is SourceKind.RTSP:
                options["rtsp_transport"] = self.rtsp_transport
            elif self.kind is SourceKind.MJPEG:
                fmt = "mpjpeg"
        return av.open(
            target, format=fmt, options=options, timeout=(self.open_timeout_s, self.read_timeout_s)
        )

    async def _session(self) -> AsyncIterator[Frame]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=self.queue_size)
        stop = threading.Event()

        def put(item: _Item) -> None:
            if isinstance(item, Frame) and queue.full():  # live: the newest frame wins
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                self.health.skipped("backlog")
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(item)

        def emit(item: _Item) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
                loop.call_soon_threadsafe(put, item)

        def report(kind: str, message: str) -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.health.error, kind, message)

        def over_rate(count: int) -> None:  # frames the frame-rate cap left out (counted, as the queue's are)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.health.skipped, "rate", count)

        thread = threading.Thread(
            target=self._run,
            args=(stop, emit, report, over_rate),
            name=f"decode-{self.health.camera_id}",
            daemon=True,
        )
        thread.start()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    raise StreamEnded("stream ended")
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            await asyncio.to_thread(thread.join, self.read_timeout_s + 1)

    def _run(
        self,
        stop: threading.Event,
        emit: Callable[[_Item], None],
        report: Callable[[str, str], None],
        over_rate: Callable[[int], None],
    ) -> None:
        try:
            offset = 0.0  # a looped file's time continues across its loops
            while not stop.is_set():
                offset = self._play(stop, emit, report, over_rate, offset)
                if self.kind is not SourceKind.FILE or not self.loop_file:
                    break
            emit(None)
        except BaseException as exc:  # handed to the event loop, which decides to reconnect
            emit(exc)

    def _play(
        self,
        stop: threading.Event,
        emit: Callable[[_Item], None],
        report: Callable[[str, str], None],
        over_rate: Callable[[int], None],
        offset: float,
    ) -> float:
        """Demux and decode one opening of the stream; returns the media time reached (for loops)."""
        paced = self.kind is SourceKind.FILE
        cap = RateCap(self.max_fps)
        capped = 0  # frames the cap left out since the last one kept, reported with that one
        media_t = offset
        with self._open() as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate or stream.guessed_rate or 25)
            started = time.monotonic() - offset
            bad = 0
            for packet in container.demux(stream):
                if stop.is_set():
                    break
                try:
                    frames = packet.decode()
                    bad = 0
                except av.error.InvalidDataError as exc:  # a corrupt packet costs a frame, not the stream
                    bad += 1
                    report("decode", f"corrupt packet: {exc}")
                    if bad > MAX_BAD_PACKETS:
                        raise
                    continue
                for frame in frames:
                    media_t = offset + (float(frame.time) if frame.time is not None else 0.0)
                    if paced:
                        if frame.time is None:
                            media_t += 1.0 / rate
                        delay = started + media_t - time.monotonic()
                        if delay > 0 and stop.wait(delay):
                            return media_t
                    if not cap.admit(time.monotonic()):
                        capped += 1
                        continue
                    if capped:  # one call into the event loop per kept frame at most, not per frame left
                        over_rate(capped)
                        capped = 0
                    image = frame.to_ndarray(format="bgr24")
                    emit(Frame(image=image, captured_at=time.time(), seq=self._next_seq()))
        return media_t + 1.0 / rate
