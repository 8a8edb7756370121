"""The alerts stage without a broker or Redis: alert contents, ids, once per pass, the ledger written
after the send and failing open, the repeat window."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest

from platewatch.codecs import Alert, Read, decode_alert, encode_alert
from platewatch.engine.alerts import AlertLedger, alert_id, list_defaults, process_read
from platewatch.engine.config import HotlistConfig
from platewatch.engine.hotlist import HotlistIndex, ListSettings

UNREACHABLE = "redis://127.0.0.1:1/0"  # refused at once: the ledger works from its local cache


class MemoryLedger:
    """A ledger in memory (the `Ledger` protocol)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.seen: dict[tuple[str, str], float] = {}

    async def delivered(self, ids: Sequence[str]) -> set[str]:
        return {i for i in ids if i in self.ids}

    async def record(self, aid: str) -> None:
        self.ids.add(aid)

    async def repeated(self, camera: str, entry_key: str, t: float, window_s: float) -> bool:
        last = self.seen.get((camera, entry_key))
        return last is not None and abs(t - last) < window_s

    async def record_repeat(self, camera: str, entry_key: str, t: float, window_s: float) -> None:
        self.seen[(camera, entry_key)] = max(t, self.seen.get((camera, entry_key), t))


def _index() -> HotlistIndex:
    index = HotlistIndex({"stolen": ListSettings("stolen", priority=3)}, "pw:hot")
    index.build(["stolen"], ["7ABC123"], [b"reason\x1fstolen vehicle\x1fcase\x1f24-1187\x1fstate\x1fCA"])
    return index


def _read(
    plate: str, pass_id: str = "", t: float = 1.0, camera: str = "cam-1", chars: tuple[float, ...] = ()
) -> Read:
    return Read(
        read_id=str(uuid.uuid4()),
        camera_id=camera,
        time=t,
        plate=plate,
        confidence=0.9,
        pass_id=pass_id,
        char_confidences=chars,
    )


#: the recognizer unsure of the third character: a B/8 confusion there is admitted
UNSURE_THIRD = (0.99, 0.99, 0.2, 0.99, 0.99, 0.99, 0.99)


async def test_alerts_once_per_pass_with_the_entry_details() -> None:
    index, ledger, sent = _index(), MemoryLedger(), []

    async def send(alert: Alert) -> None:
        sent.append(decode_alert(encode_alert(alert)))

    first = _read("7A8C123", "p1", chars=UNSURE_THIRD)
    await process_read(first, index, ledger, send, now=lambda: 5.0)
    await process_read(_read("7ABC123", "p1"), index, ledger, send)  # same pass
    await process_read(first, index, ledger, send)  # replay
    await process_read(_read("1ZZZ999", "p2"), index, ledger, send)  # no match
    assert len(sent) == 1
    alert = sent[0]
    assert (alert.hotlist, alert.entry, alert.match_kind, alert.priority) == ("stolen", "7ABC123", "fuzzy", 3)
    assert (alert.reason, alert.case_number, alert.time, alert.verified) == (
        "stolen vehicle",
        "24-1187",
        5.0,
        False,
    )
    assert alert.extra == {"state": "CA", "entry_key": "pw:hot:stolen:7ABC123", "candidate": "7A8C123"}
    assert alert.alert_id == alert_id(first, "pw:hot:stolen:7ABC123")

    # a read without a pass is its own pass
    await process_read(_read("7ABC123"), index, ledger, send)
    await process_read(_read("7ABC123"), index, ledger, send)
    assert len(sent) == 3


async def test_the_ledger_is_written_only_after_the_alert_went_out() -> None:
    index, ledger, sent = _index(), MemoryLedger(), []
    read = _read("7ABC123", "p1")

    async def broker_down(alert: Alert) -> None:
        raise ConnectionError("broker away")

    with pytest.raises(ConnectionError):
        await process_read(read, index, ledger, broker_down)
    assert ledger.ids == set()  # not recorded: the replayed read alerts

    async def send(alert: Alert) -> None:
        sent.append(alert)

    await process_read(read, index, ledger, send)
    assert [a.alert_id for a in sent] == [alert_id(read, "pw:hot:stolen:7ABC123")]
    assert ledger.ids == {sent[0].alert_id}


async def test_the_ledger_fails_open_when_redis_is_away() -> None:
    ledger = AlertLedger(UNREACHABLE)
    assert await ledger.delivered(["a", "b"]) == set()
    await ledger.record("a")  # swallowed error, remembered locally
    assert await ledger.delivered(["a", "b"]) == {"a"}
    assert not await ledger.repeated("cam-1", "k", 10.0, 30.0)
    await ledger.record_repeat("cam-1", "k", 10.0, 30.0)
    assert await ledger.repeated("cam-1", "k", 39.0, 30.0)
    await ledger.close()


async def test_a_pass_split_in_two_alerts_once_per_camera_within_the_window() -> None:
    index, ledger, sent = _index(), AlertLedger(UNREACHABLE), []

    async def send(alert: Alert) -> None:
        sent.append(alert)

    async def read(plate: str, pass_id: str, t: float, camera: str = "cam-1", window: float = 30.0) -> None:
        chars = UNSURE_THIRD if plate == "7A8C123" else ()
        await process_read(
            _read(plate, pass_id, t, camera, chars), index, ledger, send, repeat_window_s=window
        )

    await read("7ABC123", "p1", 100.0)
    await read("7ABC123", "p2", 104.0)  # the same car, its pass split (handover, long occlusion)
    await read("7A8C123", "p3", 120.0)  # still in view, read fuzzily: the window runs from here
    await read("7ABC123", "p4", 145.0)  # 25 s after the last sighting: still the same stop
    await read("7ABC123", "p5", 104.0, camera="cam-2")  # another camera alerts on its own
    assert [(a.read.pass_id, a.read.camera_id) for a in sent] == [("p1", "cam-1"), ("p5", "cam-2")]

    await read("7ABC123", "p6", 176.0)  # 31 s after the car was last seen: it came back
    await read("7ABC123", "p7", 177.0, window=0.0)  # window off: every pass alerts
    assert [a.read.pass_id for a in sent[2:]] == ["p6", "p7"]
    await ledger.close()


async def test_a_partial_entry_alerts_for_each_vehicle_it_matches() -> None:
    ledger, sent = MemoryLedger(), []
    index = HotlistIndex({"shooting": ListSettings("shooting", priority=1, partial=True)}, "pw:hot")
    index.upsert("shooting", "6?K*4", {"reason": "witness"})

    async def send(alert: Alert) -> None:
        sent.append(alert)

    for plate, pass_id, t in (("6XK9934", "p1", 10.0), ("6ZK0014", "p2", 12.0), ("6XK9934", "p3", 14.0)):
        await process_read(_read(plate, pass_id, t), index, ledger, send, repeat_window_s=30.0)
    assert [(a.read.plate, a.match_kind) for a in sent] == [("6XK9934", "partial"), ("6ZK0014", "partial")]
    assert set(ledger.seen) == {
        ("cam-1", "pw:hot:shooting:6?K*4|6XK9934"),
        ("cam-1", "pw:hot:shooting:6?K*4|6ZK0014"),
    }


def test_list_defaults_carry_the_configured_behaviour() -> None:
    hotlists = [HotlistConfig(name="stolen", priority=1, fuzzy="lenient"), HotlistConfig(name="amber")]
    assert list_defaults(hotlists) == [
        ListSettings("stolen", 1, "lenient", False),
        ListSettings("amber", 2, "strict", False),
    ]
