"""Exponential backoff with full jitter, shared by every reconnect loop.

Full jitter (a random delay in [0, cap]) spreads reconnecting workers and cameras apart, so a
restarted database or broker is not hit by all of them in the same instant.
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff_delays(base: float = 0.2, cap: float = 10.0, rng: random.Random | None = None) -> Iterator[float]:
    """Yield delays forever: attempt n waits uniformly in [0, min(cap, base * 2**n)]."""
    rand = rng or random.Random()
    attempt = 0
    while True:
        yield rand.uniform(0, min(cap, base * 2**attempt))
        attempt = min(attempt + 1, 30)
