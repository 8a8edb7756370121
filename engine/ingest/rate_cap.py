"""A camera's frame-rate cap: frames at the configured rate on average, bursts kept.

Why a bucket, not a minimum gap between frames: frames arrive in bursts (network jitter, a decoder
catching up after a file loops or a stream reconnects). A minimum gap dropped the second frame of
every burst even from a camera sending exactly at the cap: 22 of 2,394 frames in a 60 s bench of
four cameras, whose worker then recognised every frame it was handed. A bucket of a few frames
drops only what exceeds the rate over that many frames' time, so a 30 fps camera capped at 10 still
yields 10 a second, and a 10 fps one all of its frames.
"""

from __future__ import annotations

BURST_FRAMES = 3.0  # frames a burst may bring at once, on top of the rate


class RateCap:
    """Admits frames at `fps` a second on average, with bursts of up to `burst` frames; None or 0:
    every frame."""

    def __init__(self, fps: float | None, burst: float = BURST_FRAMES) -> None:
        self.fps = fps or 0.0
        self.burst = burst
        self._tokens = burst
        self._last: float | None = None

    def admit(self, now: float) -> bool:
        """Whether the frame that came at `now` (a monotonic clock) is kept."""
        if not self.fps:
            return True
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.fps)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
