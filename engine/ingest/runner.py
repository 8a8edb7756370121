"""One camera's capture loop: source → sample → motion gate → recognize → ROI → track → reads out.

Everything heavy runs off the event loop (decoding in the source's thread, inference in the
recognizer's queue and threads, tracking and JPEG encoding in a thread), so one worker process
can run many cameras next to its Kafka consumers. Recognition is pipelined: up to `in_flight`
frames of a camera are being recognised at once, and their results are tracked in capture order
by a task of their own the moment each is ready.
When recognition falls behind, the source drops the oldest frames (a live camera's newest frame is
the one that matters). Cancelling `run()` (the camera was revoked or removed) ends every open pass
with its final read, so a pass is never left without one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np

from platewatch.codecs import Read
from platewatch.engine.config import VisionConfig
from platewatch.engine.config.camera import CameraSpec, SourceKind, source_kind
from platewatch.engine.track import Tracker, TrackerConfig
from platewatch.engine.track.confirm import ConfirmingTracker, Reread
from platewatch.engine.track.plateless import PlatelessTracker
from platewatch.engine.vision.camera_vehicles import CameraVehicles
from platewatch.engine.vision.types import Observation
from platewatch.engine.vision.vehicles import VehicleDescriber

from .av_source import AvSource
from .frame import Frame, Image
from .gate import MotionGate, in_roi
from .health import CameraHealth
from .source import Source
from .whep import WhepSource

log = logging.getLogger(__name__)

Recognize = Callable[[Image, str | None], Awaitable[list[Observation]]]
Publish = Callable[[Read], Awaitable[None]]

#: Overview images are scaled down to this width: enough to see the scene, a fraction of the bytes.
OVERVIEW_WIDTH = 1280


def encode_jpeg(image: Image, quality: int = 85) -> bytes | None:
    """JPEG for reads: crops as they are, whole frames scaled to `OVERVIEW_WIDTH`."""
    h, w = image.shape[:2]
    if w > OVERVIEW_WIDTH:
        size = (OVERVIEW_WIDTH, h * OVERVIEW_WIDTH // w)
        image = cast(Image, cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    if image.size == 0:
        return None
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else None


def make_source(spec: CameraSpec, health: CameraHealth, **options: Any) -> Source:
    """The source for a camera's URL scheme, sampling at the camera's fps."""
    common: dict[str, Any] = {"health": health, "stall_timeout_s": spec.stall_timeout_s, "max_fps": spec.fps}
    common.update(options)
    if source_kind(spec.url) is SourceKind.WHEP:
        return WhepSource(spec.url, bearer_token=spec.bearer_token, **common)
    return AvSource(spec.url, rtsp_transport=spec.rtsp_transport, **common)


def default_recognize(vision: VisionConfig | None = None, data_dir: Path | None = None) -> Recognize:
    """The shared OpenVINO recognizer's async form (THROUGHPUT queue, work in threads), for the
    vision settings the worker hands down (the section's defaults when none are)."""
    from platewatch.engine.vision.pipeline import default_recognizer

    recognizer = default_recognizer(vision, data_dir)

    async def recognize(image: Image, region: str | None) -> list[Observation]:
        return await recognizer.recognize_async(image, region)

    return recognize


def default_reread(vision: VisionConfig | None = None, data_dir: Path | None = None) -> Reread | None:
    """The shared recognizer's thorough reading of one plate, for confirming passes as they close;
    None under `vision.thorough: never` (one crop a plate everywhere, nothing reread)."""
    from platewatch.engine.vision.pipeline import default_recognizer

    if (vision or VisionConfig()).thorough == "never":
        return None
    return default_recognizer(vision, data_dir).reread


def default_vehicle_describer(
    vision: VisionConfig | None = None, data_dir: Path | None = None
) -> VehicleDescriber:
    """The process's vehicle describer for cameras on the recognizer's runtime (colour of a pass's
    vehicle), its detector compiled for THROUGHPUT.

    Why not LATENCY, as for a photo: LATENCY spreads one inference over every core, and on the
    2-core machine a detection took 15 ms but 30 ms of CPU (its threads wait on each other);
    THROUGHPUT runs each on one core, 20 ms and 20 ms of CPU. Where cameras keep every core busy,
    the CPU is what a detection costs the frames. The detections are the same (every vehicle of
    the 232 training photos found in the same box)."""
    from platewatch.engine.vision.runtime import Mode, get_runtime
    from platewatch.engine.vision.vehicles import default_describer

    return default_describer(get_runtime(vision, data_dir), Mode.THROUGHPUT)


#: Final reads a camera keeps for sending again while the broker refuses them (about 15 minutes of
#: a busy camera's passes), the first and longest wait between tries, and the last try on closing.
MAX_UNSENT = 10_000
RESEND_FIRST_S = 0.5
RESEND_MAX_S = 10.0
CLOSE_RESEND_S = 10.0


class CameraRunner:
    def __init__(
        self,
        spec: CameraSpec,
        publish: Publish,
        recognize: Recognize | None = None,
        *,
        source: Source | None = None,
        tracker_config: TrackerConfig | None = None,
        health: CameraHealth | None = None,
        in_flight: int = 2,
        vision: VisionConfig | None = None,
        data_dir: Path | None = None,
        reread: Reread | None = None,
    ) -> None:
        """`vision` and `data_dir` build the shared recognizer when no `recognize` is given;
        `reread` (the recognizer's thorough reading of one plate) confirms each pass as it closes
        (`track.confirm`), and is the shared recognizer's when neither is given."""
        self.spec = spec
        self.health = health or CameraHealth(spec.id)
        self.publish = publish
        self._recognize_fn = recognize
        self.source = source or make_source(spec, self.health)
        config = dataclasses.replace(tracker_config or TrackerConfig(), direction=spec.direction)
        self.tracker = Tracker(spec.id, config, encode_jpeg=encode_jpeg, region=spec.region or "")
        self._tracker_args = (spec.id, config)
        if reread is not None:
            self._confirm_with(reread)
        self.gate = MotionGate() if spec.motion_gate else None
        self.in_flight = max(1, in_flight)
        self._vision = vision
        self._data_dir = data_dir
        #: Plate-less passes (vehicles whose plate could not be read), with the vehicle describer.
        self.plateless: PlatelessTracker | None = None
        #: This camera's vehicle detections, one per frame, shared by the trackers (`describe_vehicles`).
        self.vehicles: CameraVehicles | None = None
        #: Final reads the broker refused, sent again by `_resender` (`_keep_for_resend`).
        self._unsent: deque[Read] = deque()
        self._resender: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Capture until cancelled; never raises for a camera's or a frame's failure."""
        recognize = self._recognize_fn
        if recognize is None:
            recognize = await asyncio.to_thread(default_recognize, self._vision, self._data_dir)
            if not isinstance(self.tracker, ConfirmingTracker):
                self._confirm_with(await asyncio.to_thread(default_reread, self._vision, self._data_dir))
            if self.tracker.describe_vehicle is None and (self._vision or VisionConfig()).vehicles:
                describer = await asyncio.to_thread(default_vehicle_describer, self._vision, self._data_dir)
                self.describe_vehicles(describer)
            vision = self._vision or VisionConfig()
            tracker = self.tracker
            if (
                isinstance(tracker, ConfirmingTracker)
                and tracker.state_of is None
                and vision.state
                and (self.spec.region or vision.region) in ("us", "auto")
            ):
                from platewatch.engine.vision.plate_state import shared_state_reader, state_of

                await asyncio.to_thread(shared_state_reader)  # compiled here, not in the first pass
                tracker.state_of = state_of
        await self.warm_up(recognize)
        pending: deque[tuple[Frame, asyncio.Task[list[Observation]] | None]] = deque()
        slots = asyncio.Semaphore(self.in_flight)
        arrived = asyncio.Event()
        consumer = asyncio.create_task(self._consume(pending, slots, arrived))
        frames = self.source.frames()
        try:
            async for frame in frames:
                gate = self.gate if self.tracker.open_passes == 0 else None
                if gate is not None and not await asyncio.to_thread(gate.moved, frame.image):
                    self.health.skipped("no_motion")
                    pending.append((frame, None))  # time passes: ended passes close
                else:
                    await slots.acquire()
                    pending.append((frame, asyncio.create_task(self._read(recognize, frame))))
                arrived.set()
        finally:
            # Shielded: a stop that cancels again (worker shutdown) must not cut the final reads off.
            await asyncio.shield(self._close(pending, consumer, frames))

    def _confirm_with(self, reread: Reread | None) -> None:
        """Track with a `ConfirmingTracker` (before any frame: the tracker holds no pass yet)."""
        camera_id, config = self._tracker_args
        self.tracker = ConfirmingTracker(
            camera_id,
            config,
            encode_jpeg=encode_jpeg,
            region=self.spec.region or "",
            describe_vehicle=self.tracker.describe_vehicle,
            reread=reread,
        )

    async def _consume(
        self,
        pending: deque[tuple[Frame, asyncio.Task[list[Observation]] | None]],
        slots: asyncio.Semaphore,
        arrived: asyncio.Event,
    ) -> None:
        """Track each frame's reads as soon as they are ready, in capture order.

        Its own task, so a frame's reads (and a provisional read from them) go out the moment its
        recognition ends, not when the next frame arrives (up to 1/fps later: 100 ms at 10 fps).
        """
        while True:
            if not pending:
                arrived.clear()
                await arrived.wait()
                continue
            frame, task = pending[0]
            try:
                reads = await task if task is not None else []
                await self._track(frame, reads, recognized=task is not None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a tracking failure costs one frame, never the camera
                self.health.error("track", f"{type(exc).__name__}: {exc}")
                log.exception("camera %s: tracking a frame failed", self.spec.id)
            finally:
                if pending and pending[0][0] is frame:
                    pending.popleft()
                    if task is not None:
                        slots.release()

    async def _close(
        self,
        pending: deque[tuple[Frame, asyncio.Task[list[Observation]] | None]],
        consumer: asyncio.Task[None],
        frames: AsyncGenerator[Frame, None],
    ) -> None:
        """End every open pass with its final read, then release the stream.

        Frames in inference finish first (~0.1 s; their reads belong to the passes, and an inference
        request abandoned mid-flight can outlive its queue at interpreter exit).
        """
        try:
            deadline = asyncio.get_running_loop().time() + 2.0
            while pending and not consumer.done() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            for _frame, task in pending:  # still in flight after the deadline: abandoned
                if task is not None:
                    task.cancel()
            for read in await asyncio.to_thread(self.tracker.flush):  # rereads run inference
                await self._publish(read)
            if self.plateless is not None:
                for read in await asyncio.to_thread(self.plateless.flush):  # describes vehicles
                    await self._publish(read)
            if self._unsent:  # the stream is closing: a last, bounded try for refused reads
                if self._resender is not None:
                    self._resender.cancel()
                    await asyncio.gather(self._resender, return_exceptions=True)
                give_up_at = asyncio.get_running_loop().time() + CLOSE_RESEND_S
                await self._resend(give_up_at)
                for read in self._unsent:
                    log.error(
                        "camera %s: read %s could not be sent before closing", self.spec.id, read.read_id
                    )
        except Exception as exc:  # never let a failing publisher keep the stream open
            log.warning("camera %s: closing: %s: %s", self.spec.id, type(exc).__name__, exc)
        finally:
            await frames.aclose()  # here, in this task: the source's teardown must not be left to GC

    async def warm_up(self, recognize: Recognize) -> None:
        """Compile the models before the stream opens: the first inference takes seconds, and the
        frames that arrive meanwhile (the first vehicle) would otherwise be dropped."""
        try:
            await recognize(np.zeros((64, 64, 3), np.uint8), self.spec.region)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.health.error("recognize", f"warm-up: {type(exc).__name__}: {exc}")

    async def _read(self, recognize: Recognize, frame: Frame) -> list[Observation]:
        try:
            reads = await recognize(frame.image, self.spec.region)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a frame the recognizer cannot use is skipped, not fatal
            self.health.error("recognize", f"{type(exc).__name__}: {exc}")
            return []
        h, w = frame.image.shape[:2]
        return in_roi(reads, self.spec.roi, w, h)

    def describe_vehicles(self, describer: VehicleDescriber) -> None:
        """Describe each pass's vehicle and follow vehicles for plate-less passes (before any frame).

        Both trackers ask this camera's `CameraVehicles`, so a frame's vehicles are detected once:
        the plate tracker's describer first, then the plate-less tracker takes what it found."""
        self.vehicles = vehicles = CameraVehicles(describer.reader)
        self.tracker.describe_vehicle = vehicles.describe
        self.plateless = PlatelessTracker(
            self.spec.id,
            vehicles.detect,
            vehicles.look_at,
            encode_jpeg=encode_jpeg,
            region=self.spec.region or "",
            moved=MotionGate().moved,
        )

    def _update(self, reads: list[Observation], frame: Frame, recognized: bool) -> list[Read]:
        out = self.tracker.update(reads, frame.captured_at, frame.image)
        if self.plateless is not None and recognized:
            detected = self.vehicles.detected(frame.image) if self.vehicles is not None else None
            out += self.plateless.update(reads, frame.captured_at, frame.image, detected)
        return out

    async def _track(self, frame: Frame, reads: list[Observation], recognized: bool = True) -> None:
        out = await asyncio.to_thread(self._update, reads, frame, recognized)
        if recognized:
            self.health.processed()
        for read in out:
            await self._publish(read)

    async def _publish(self, read: Read) -> None:
        try:
            await self.publish(read)
            self.health.read_out(read.provisional)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.health.error("publish", f"{type(exc).__name__}: {exc}")
            if read.provisional:  # its pass's final read follows and supersedes it
                log.warning(
                    "camera %s: could not publish provisional read %s: %s", self.spec.id, read.read_id, exc
                )
                return
            log.warning(
                "camera %s: could not publish read %s (sent again later): %s", self.spec.id, read.read_id, exc
            )
            self._keep_for_resend(read)

    def _keep_for_resend(self, read: Read) -> None:
        """A final read the broker refused waits here and is sent again with backoff (a broker
        restarting, a leader moving), in order, so a pass is never lost to one failed send."""
        if len(self._unsent) >= MAX_UNSENT:
            lost = self._unsent.popleft()
            self.health.error("publish", f"resend queue full: read {lost.read_id} dropped")
            log.error(
                "camera %s: %d reads wait to be sent; dropped the oldest, %s",
                self.spec.id,
                MAX_UNSENT,
                lost.read_id,
            )
        self._unsent.append(read)
        if self._resender is None or self._resender.done():
            self._resender = asyncio.create_task(self._resend())

    async def _resend(self, give_up_at: float | None = None) -> None:
        delay = RESEND_FIRST_S
        loop = asyncio.get_running_loop()
        while self._unsent:
            if give_up_at is not None and loop.time() >= give_up_at:
                return
            read = self._unsent[0]
            try:
                await self.publish(read)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.health.error("publish", f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(delay)
                delay = min(RESEND_MAX_S, delay * 2)
                continue
            self._unsent.popleft()
            self.health.read_out(read.provisional)
            delay = RESEND_FIRST_S
