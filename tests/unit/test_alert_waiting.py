"""In a stream a weak match waits for the pass's final vote: the provisional read (the vote of a
pass's first frames) raises only strong evidence; the final read raises the rest, once per pass."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from platewatch.codecs import Alert, Read
from platewatch.engine.alerts import process_read
from platewatch.engine.hotlist import HotlistIndex, ListSettings
from platewatch.engine.hotlist.entry import PROVISIONAL_THRESHOLD
from platewatch.engine.hotlist.matcher import match_read_text


def _unsure_third(index: HotlistIndex) -> tuple[float, ...]:
    """Confidences whose B/8 confusion at the third character is an alert, but a weak one."""
    for q in (0.99, 0.98, 0.97, 0.95, 0.9, 0.8, 0.6, 0.4):
        chars = (0.99, 0.99, q, 0.99, 0.99, 0.99, 0.99)
        [m] = match_read_text(index, "7A8C123", 0.9, (), chars)
        if m.tier == "alert" and m.evidence < PROVISIONAL_THRESHOLD:
            return chars
    raise AssertionError("no confidence gives a weak alert")


def test_default_lists_alert_only_where_a_provisional_read_may() -> None:
    """Defaults: the provisional threshold is not below the alert threshold (both from the pass
    curve), so a default list has no alert that waits; a weak match there is a possible match."""
    index = _index()
    for q in (0.99, 0.95, 0.9, 0.8, 0.6, 0.4):
        [m] = match_read_text(index, "7A8C123", 0.9, (), (0.99, 0.99, q, 0.99, 0.99, 0.99, 0.99))
        assert m.tier != "alert" or m.evidence >= PROVISIONAL_THRESHOLD


class Ledger:
    def __init__(self) -> None:
        self.ids: set[str] = set()

    async def delivered(self, ids: Sequence[str]) -> set[str]:
        return {i for i in ids if i in self.ids}

    async def record(self, aid: str) -> None:
        self.ids.add(aid)

    async def repeated(self, camera: str, entry_key: str, t: float, window_s: float) -> bool:
        return False

    async def record_repeat(self, camera: str, entry_key: str, t: float, window_s: float) -> None:
        return None


def _index(alert_threshold: float | None = None) -> HotlistIndex:
    """A list at the default thresholds, or one whose own alert threshold sits below the
    provisional one (with the defaults the two are equal, so only such a list has weak alerts)."""
    settings = (
        ListSettings("stolen")
        if alert_threshold is None
        else ListSettings("stolen", alert_threshold=alert_threshold)
    )
    index = HotlistIndex({"stolen": settings}, "pw:hot")
    index.build(["stolen"], ["7ABC123"], [b"reason\x1fstolen vehicle"])
    return index


def _read(plate: str, provisional: bool, chars: tuple[float, ...] = ()) -> Read:
    return Read(
        read_id=str(uuid.uuid4()),
        camera_id="cam-1",
        time=1.0,
        plate=plate,
        confidence=0.9,
        char_confidences=chars,
        provisional=provisional,
        pass_id="p1",
    )


async def test_a_weak_match_waits_for_the_final_vote() -> None:
    index, ledger, sent = _index(alert_threshold=PROVISIONAL_THRESHOLD / 3), Ledger(), []

    async def send(alert: Alert) -> None:
        sent.append(alert)

    unsure = _unsure_third(index)
    assert await process_read(_read("7A8C123", True, unsure), index, ledger, send) == []
    [alert] = await process_read(_read("7A8C123", False, unsure), index, ledger, send)
    assert alert.tier == "alert" and alert.evidence < PROVISIONAL_THRESHOLD
    assert len(sent) == 1


async def test_strong_evidence_alerts_on_the_provisional_read() -> None:
    index, ledger, sent = _index(), Ledger(), []

    async def send(alert: Alert) -> None:
        sent.append(alert)

    [alert] = await process_read(_read("7ABC123", True), index, ledger, send)
    assert alert.evidence >= PROVISIONAL_THRESHOLD
    # the final read of the same pass does not alert again
    assert await process_read(_read("7ABC123", False), index, ledger, send) == []
    assert len(sent) == 1
