"""Login rate limits: a sliding window per username and per client address, in this process.

Each API instance keeps its own windows, so N instances allow N times the configured rate; the
account lockout (in the database) is what bounds guessing across instances. In memory is enough for
what this is for: slowing one client's burst without a round trip to Redis on every login.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from platewatch.engine.config.access import AccessConfig

_MAX_KEYS = 100_000  # past this, idle keys are swept so a spray of addresses cannot grow memory


class SlidingWindow:
    """At most `limit` events per `window_s` per key."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count an event; None if allowed, else the seconds until one would be."""
        now = self._clock()
        with self._lock:
            events = self._events.get(key)
            if events is None:
                if len(self._events) >= _MAX_KEYS:
                    self._sweep(now)
                events = self._events[key] = deque()
            while events and events[0] <= now - self.window_s:
                events.popleft()
            if len(events) >= self.limit:
                return events[0] + self.window_s - now
            events.append(now)
            return None

    def _sweep(self, now: float) -> None:
        for key in [k for k, ev in self._events.items() if not ev or ev[-1] <= now - self.window_s]:
            del self._events[key]


class LoginRateLimiter:
    def __init__(self, cfg: AccessConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_user = SlidingWindow(cfg.login_attempts_per_user, cfg.login_window_s, clock)
        self.per_address = SlidingWindow(cfg.login_attempts_per_address, cfg.login_window_s, clock)

    def hit(self, username: str, address: str | None) -> float | None:
        """Count one login attempt; None if allowed, else the seconds to wait."""
        waits = [self.per_user.hit("u:" + username.strip().lower())]
        if address:
            waits.append(self.per_address.hit("a:" + address))
        blocked = [w for w in waits if w is not None]
        return max(blocked) if blocked else None
