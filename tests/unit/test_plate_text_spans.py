"""The plate dictionary's per-batch spans: one row per text, its first and last UTC day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from platewatch.engine.store.reads import epoch_micros
from platewatch.engine.store.search_texts import text_days


def _us(when: datetime) -> int:
    return epoch_micros(when.timestamp())


def test_each_text_once_with_the_utc_days_it_was_read() -> None:
    midnight = datetime(2026, 11, 28, tzinfo=UTC)
    reads = [
        ("7ABC123", midnight - timedelta(microseconds=1)),  # the last instant of the 27th
        ("4XYZ555", midnight + timedelta(hours=5)),
        ("7ABC123", midnight + timedelta(days=2, hours=23)),
        ("7ABC123", midnight + timedelta(hours=1)),  # between the two: widens nothing
        ("4XYZ555", midnight - timedelta(days=40)),  # out of order
    ]
    spans = text_days([p for p, _ in reads], [_us(t) for _, t in reads])
    assert spans == {
        "7ABC123": (date(2026, 11, 27), date(2026, 11, 30)),
        "4XYZ555": (date(2026, 10, 19), date(2026, 11, 28)),
    }
    assert text_days([], []) == {}


def test_plates_and_times_must_pair_up() -> None:
    with pytest.raises(ValueError):
        text_days(["7ABC123", "4XYZ555"], [0])


def test_the_writer_remembers_only_spans_it_was_told_were_committed() -> None:
    from datetime import date

    from platewatch.engine.store.search_texts import CoveredTexts

    d1, d2, d3 = date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)
    covered = CoveredTexts()
    batch = {"7ABC123": (d1, d2), "8XYZ999": (d2, d2)}
    assert covered.uncovered(batch) == batch  # nothing committed yet
    covered.remember(batch)
    assert covered.uncovered({"7ABC123": (d2, d2), "8XYZ999": (d2, d2)}) == {}
    # a later day, an earlier day, a new text: each still needs its upsert
    wider = {"7ABC123": (d2, d3), "8XYZ999": (d1, d2), "1NEW000": (d3, d3)}
    assert covered.uncovered(wider) == wider


def test_a_full_cache_starts_again_rather_than_grow() -> None:
    from datetime import date

    from platewatch.engine.store.search_texts import CoveredTexts

    day = date(2026, 12, 1)
    covered = CoveredTexts(limit=3)
    covered.remember({"A1": (day, day), "B2": (day, day), "C3": (day, day)})
    covered.remember({"D4": (day, day)})  # over the limit: forgets the rest
    assert covered.uncovered({"A1": (day, day)}) == {"A1": (day, day)}
    assert covered.uncovered({"D4": (day, day)}) == {}
