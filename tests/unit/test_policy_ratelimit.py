"""Login rate limits: a sliding window per username and per address."""

from __future__ import annotations

from platewatch.engine.config.access import AccessConfig
from platewatch.engine.policy.ratelimit import LoginRateLimiter, SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_the_window_slides() -> None:
    clock = Clock()
    window = SlidingWindow(3, 60, clock)
    assert [window.hit("k") for _ in range(3)] == [None, None, None]
    assert window.hit("k") == 60
    clock.t += 30
    assert window.hit("k") == 30
    assert window.hit("other") is None
    clock.t += 30.001
    assert window.hit("k") is None


def test_per_user_and_per_address_limits_apply_separately() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(
        AccessConfig(login_attempts_per_user=2, login_attempts_per_address=3, login_window_s=10), clock
    )
    assert limiter.hit("Alice", "10.0.0.1") is None
    assert limiter.hit("alice ", "10.0.0.2") is None
    assert limiter.hit("alice", "10.0.0.3") == 10  # the user's limit, from any address
    assert limiter.hit("bob", "10.0.0.1") is None
    assert limiter.hit("carol", "10.0.0.1") is None
    assert limiter.hit("dave", "10.0.0.1") == 10  # the address's limit, whatever the username
    clock.t += 10
    assert limiter.hit("alice", "10.0.0.1") is None
