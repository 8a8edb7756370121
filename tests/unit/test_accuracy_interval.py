"""The confidence interval `bench accuracy` prints beside the exact-read rate."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platewatch.engine.bench.accuracy import wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (1, 2, 0.0945, 0.9055),  # textbook values of the 95 % Wilson interval
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (34, 36, 0.8186, 0.9846),  # US held-out: 94.4 % could be anything from 82 % to 98 %
    ],
)
def test_known_intervals(k: int, n: int, low: float, high: float) -> None:
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=5e-4)


def test_no_plates_means_nothing_is_known() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


@given(st.integers(1, 5000), st.data())
def test_the_interval_holds_the_rate_and_narrows_with_more_plates(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0
    low4, high4 = wilson_interval(4 * k, 4 * n)
    assert high4 - low4 < high - low
