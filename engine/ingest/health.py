"""Camera health: counts and times each camera's capture reports, as Prometheus metrics and a snapshot.

The snapshot (a plain dict) is what `platewatch camera list` shows; workers publish it to Redis so
the command sees cameras captured by any worker. Rates are computed over a sliding window from the
counters rather than kept as gauges that one slow tick would distort.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

FRAMES_IN = Counter("platewatch_camera_frames_in_total", "Frames decoded and sampled", ["camera"])
FRAMES_PROCESSED = Counter("platewatch_camera_frames_processed_total", "Frames recognised", ["camera"])
FRAMES_SKIPPED = Counter(
    "platewatch_camera_frames_skipped_total",
    "Frames not recognised (over the rate cap, backlog, no motion)",
    ["camera", "why"],
)
RECONNECTS = Counter(
    "platewatch_camera_reconnects_total", "Stream (re)connections after a failure", ["camera"]
)
ERRORS = Counter("platewatch_camera_errors_total", "Stream and recognition errors", ["camera", "kind"])
READS_OUT = Counter("platewatch_camera_reads_total", "Reads emitted", ["camera", "kind"])
LAST_FRAME = Gauge(
    "platewatch_camera_last_frame_timestamp_seconds", "Capture time of the last frame", ["camera"]
)
CONNECTED = Gauge("platewatch_camera_connected", "1 while the camera's stream delivers frames", ["camera"])


@dataclass
class CameraHealth:
    """Live health of one camera's capture in this worker."""

    camera_id: str
    window_s: float = 10.0
    frames_in: int = 0
    frames_processed: int = 0
    reconnects: int = 0
    errors: int = 0
    reads: int = 0
    connected: bool = False
    last_frame_at: float | None = None
    first_frame_at: float | None = None
    last_error: str = ""
    outages: int = 0
    #: Frames decoded but not recognised, by why (`rate`: over the camera's frame-rate cap;
    #: `backlog`: a newer frame replaced it in the queue; `no_motion`: the motion gate held it back).
    skipped_by: dict[str, int] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    _in_outage: bool = field(default=False, repr=False)
    _in_times: deque[float] = field(default_factory=deque, repr=False)
    _done_times: deque[float] = field(default_factory=deque, repr=False)

    def frame_in(self, captured_at: float) -> None:
        self.frames_in += 1
        self.last_frame_at = captured_at
        if self.first_frame_at is None:
            self.first_frame_at = captured_at
        self._push(self._in_times)
        FRAMES_IN.labels(self.camera_id).inc()
        LAST_FRAME.labels(self.camera_id).set(captured_at)
        self._in_outage = False
        if not self.connected:
            self.connected = True
            CONNECTED.labels(self.camera_id).set(1)

    def processed(self) -> None:
        self.frames_processed += 1
        self._push(self._done_times)
        FRAMES_PROCESSED.labels(self.camera_id).inc()

    def skipped(self, why: str, count: int = 1) -> None:
        self.skipped_by[why] = self.skipped_by.get(why, 0) + count
        FRAMES_SKIPPED.labels(self.camera_id, why).inc(count)

    def read_out(self, provisional: bool) -> None:
        self.reads += 1
        READS_OUT.labels(self.camera_id, "provisional" if provisional else "final").inc()

    def disconnected(self, error: str) -> None:
        """The stream failed or stalled; counted once per outage, however many retries it takes."""
        if not self._in_outage:
            self.outages += 1
            self._in_outage = True
        self.connected = False
        CONNECTED.labels(self.camera_id).set(0)
        self.error("stream", error)

    def reconnecting(self) -> None:
        self.reconnects += 1
        RECONNECTS.labels(self.camera_id).inc()

    def error(self, kind: str, message: str) -> None:
        self.errors += 1
        self.last_error = message[:200]
        ERRORS.labels(self.camera_id, kind).inc()

    def _push(self, times: deque[float]) -> None:
        now = time.monotonic()
        times.append(now)
        while times and now - times[0] > self.window_s:
            times.popleft()

    def _rate(self, times: deque[float]) -> float:
        now = time.monotonic()
        while times and now - times[0] > self.window_s:
            times.popleft()
        span = min(self.window_s, max(1e-3, now - (times[0] if times else now)))
        return round(len(times) / span, 2) if len(times) > 1 else 0.0

    def snapshot(self) -> dict[str, object]:
        """Plain values for display and for Redis (`pw:camera:<id>:health`)."""
        age = None if self.last_frame_at is None else round(time.time() - self.last_frame_at, 2)
        return {
            "camera_id": self.camera_id,
            "connected": self.connected,
            "frames_in_per_s": self._rate(self._in_times),
            "processed_per_s": self._rate(self._done_times),
            "last_frame_age_s": age,
            # a capture's start, so a reader can tell one run of the camera from the next (the
            # fault bench places a looped file's passes from it)
            "first_frame_at": self.first_frame_at,
            "frames_in": self.frames_in,
            "frames_processed": self.frames_processed,
            "reconnects": self.reconnects,
            "outages": self.outages,
            "errors": self.errors,
            "reads": self.reads,
            "last_error": self.last_error,
        }
