"""Read ids: the same pass gives the same id on a replay, and ids sort by the read's time."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from platewatch.engine.track.ids import time_ordered_id
from platewatch.engine.track.tracker import PASS_NAMESPACE

times = st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False)


@given(st.text(max_size=40), times)
def test_an_id_is_a_function_of_name_and_time(name: str, t: float) -> None:
    a = time_ordered_id(PASS_NAMESPACE, name, t)
    assert a == time_ordered_id(PASS_NAMESPACE, name, t)
    parsed = uuid.UUID(a)
    assert parsed.version == 8 and parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == int(t * 1000)  # the first 48 bits: Unix milliseconds
    assert a != time_ordered_id(uuid.uuid4(), name, t)


@given(st.lists(st.tuples(st.text(max_size=12), times), min_size=2, max_size=30, unique_by=lambda x: x[0]))
def test_ids_sort_by_time_to_the_millisecond(items: list[tuple[str, float]]) -> None:
    ids = {name: time_ordered_id(PASS_NAMESPACE, name, t) for name, t in items}
    by_id = sorted(items, key=lambda x: uuid.UUID(ids[x[0]]).int)
    millis = [int(t * 1000) for _, t in by_id]
    assert millis == sorted(millis)


def test_two_reads_of_one_millisecond_differ() -> None:
    t = 1_795_000_000.1234
    assert time_ordered_id(PASS_NAMESPACE, "pass-a|final", t) != time_ordered_id(
        PASS_NAMESPACE, "pass-b|final", t
    )
