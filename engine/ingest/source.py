"""The source interface: `async for frame in source` yields decoded frames, forever.

Cameras fail all the time (power cuts, Wi-Fi, a firmware reboot), so a source never ends on an
error: it reports it to the camera's health, waits with exponential backoff and full jitter, and
reconnects; a stream that stays silent for `stall_timeout_s` counts as failed too (a TCP connection
can stay open to a camera that sends nothing). Subclasses implement one connection (`_session`);
the reconnect policy lives here once. Decoding happens off the event loop, in the subclasses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator

from platewatch.engine.redaction import redact, redact_url
from platewatch.engine.retry import backoff_delays

from .frame import Frame
from .health import CameraHealth

log = logging.getLogger(__name__)


class StreamStalled(Exception):
    """No frame arrived for the stall timeout."""


class StreamEnded(Exception):
    """The stream ended (server closed it, or a file without looping reached its end)."""


class Source(ABC):
    """A camera stream with reconnects. `max_fps` (when set) drops frames before they are converted.

    `open_timeout_s` bounds connecting and probing (FFmpeg takes ~3 s on some RTSP servers) before
    the first frame; `stall_timeout_s` then bounds the silence between frames.
    """

    def __init__(
        self,
        url: str,
        *,
        health: CameraHealth | None = None,
        stall_timeout_s: float = 10.0,
        open_timeout_s: float = 10.0,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        max_fps: float | None = None,
        reconnect: bool = True,
    ) -> None:
        self.url = url
        self.health = health or CameraHealth("?")
        self.stall_timeout_s = stall_timeout_s
        self.open_timeout_s = open_timeout_s
        self.backoff_base_s, self.backoff_cap_s = backoff_base_s, backoff_cap_s
        self.max_fps = max_fps
        self.reconnect = reconnect
        self._seq = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact_url(self.url)!r})"

    @abstractmethod
    def _session(self) -> AsyncIterator[Frame]:
        """One connection's frames; raises (or ends) when the connection is lost."""

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def __aiter__(self) -> AsyncGenerator[Frame, None]:
        return self.frames()

    async def frames(self) -> AsyncGenerator[Frame, None]:
        """The frames, forever; close the generator (`aclose`) to stop and release the stream."""
        delays = backoff_delays(self.backoff_base_s, self.backoff_cap_s)
        first = True
        while True:
            if not first:
                self.health.reconnecting()
            first = False
            got_frame = False
            try:
                # aclosing: when the consumer stops (aclose), the session closes now, in this task,
                # not later from the garbage collector when the event loop may be gone.
                async with contextlib.aclosing(self._stalls(self._session())) as session:
                    async for frame in session:
                        if not got_frame:
                            got_frame = True
                            delays = backoff_delays(self.backoff_base_s, self.backoff_cap_s)  # healthy again
                            log.info(
                                "camera %s: streaming from %s", self.health.camera_id, redact_url(self.url)
                            )
                        self.health.frame_in(frame.captured_at)
                        yield frame
                reason = "stream ended"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure of a camera is a reason to reconnect, not to crash
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            reason = redact(reason)
            self.health.disconnected(reason)
            if not self.reconnect:
                log.info("camera %s: %s; not reconnecting", self.health.camera_id, reason)
                return
            delay = next(delays)
            log.warning("camera %s: %s; reconnecting in %.1fs", self.health.camera_id, reason, delay)
            await asyncio.sleep(delay)

    async def _stalls(self, frames: AsyncIterator[Frame]) -> AsyncGenerator[Frame, None]:
        """Pass frames through; raise `StreamStalled` when none arrives in time.

        The session runs in a pump task of its own, so a timeout never interrupts the session's
        generator halfway (which would leave it unclosable); the pump closes it in its own task.
        """
        queue: asyncio.Queue[Frame | BaseException | None] = asyncio.Queue(maxsize=1)

        async def pump() -> None:
            try:
                async for frame in frames:
                    await queue.put(frame)
                await queue.put(None)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                await queue.put(exc)
            finally:
                aclose = getattr(frames, "aclose", None)
                if aclose is not None:
                    try:
                        await aclose()
                    except Exception as exc:  # closing a broken session must not hide why it broke
                        log.debug("closing %r: %s", self, exc)

        task = asyncio.create_task(pump(), name=f"session-{self.health.camera_id}")
        wait = self.open_timeout_s + self.stall_timeout_s  # opening probes the stream first (seconds)
        try:
            while True:
                try:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                    # that arrives as the item does, and a revoked camera would keep running.
                    async with asyncio.timeout(wait):
                        item = await queue.get()
                except TimeoutError:
                    raise StreamStalled(f"no frame for {wait:g}s") from None
                wait = self.stall_timeout_s
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if not task.done() and not task.cancelling():
                task.cancel()
            # bounded: a session that will not close (a decoder stuck in a driver) is abandoned, logged
            done, _ = await asyncio.wait({task}, timeout=self.open_timeout_s + 5)
            if not done:
                log.warning("camera %s: session did not close; abandoned", self.health.camera_id)
            elif not task.cancelled() and task.exception() is not None:
                log.debug("session ended with %r", task.exception())
