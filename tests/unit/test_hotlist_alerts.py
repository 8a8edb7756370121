"""The match agent's logic without a broker: alert contents, ids, once per pass, ledger failing open."""

from __future__ import annotations

import uuid

from platewatch.agents.match import AlertLedger, alert_id, process_read
from platewatch.codecs import Alert, Read, decode_alert, encode_alert
from platewatch.engine.hotlist import HotlistIndex, ListSettings
from platewatch.engine.hotlist.sync import HotlistSync


class MemoryLedger(AlertLedger):
    def __init__(self) -> None:
        super().__init__("redis://127.0.0.1:1/0")  # never reached: both methods are replaced
        self.ids: set[str] = set()

    async def delivered(self, ids: list[str]) -> set[str]:  # type: ignore[override]
        return {i for i in ids if i in self.ids}

    async def record(self, aid: str) -> None:
        self.ids.add(aid)


def _sync() -> HotlistSync:
    sync = HotlistSync("redis://127.0.0.1:1/0")
    index = HotlistIndex({"stolen": ListSettings("stolen", priority=3)}, "pw:hot")
    index.build(["stolen"], ["7ABC123"], [b"reason\x1fstolen vehicle\x1fcase\x1f24-1187\x1fstate\x1fCA"])
    sync.index = index
    return sync


def _read(plate: str, pass_id: str = "") -> Read:
    return Read(
        read_id=str(uuid.uuid4()), camera_id="cam-1", time=1.0, plate=plate, confidence=0.9, pass_id=pass_id
    )


async def test_alerts_once_per_pass_with_the_entry_details() -> None:
    sync, ledger, sent = _sync(), MemoryLedger(), []

    async def send(alert: Alert) -> None:
        sent.append(decode_alert(encode_alert(alert)))

    first = _read("7A8C123", "p1")
    await process_read(first, sync, ledger, send, now=lambda: 5.0)
    await process_read(_read("7ABC123", "p1"), sync, ledger, send)  # same pass
    await process_read(first, sync, ledger, send)  # replay
    await process_read(_read("1ZZZ999", "p2"), sync, ledger, send)  # no match
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
    await process_read(_read("7ABC123"), sync, ledger, send)
    await process_read(_read("7ABC123"), sync, ledger, send)
    assert len(sent) == 3


async def test_the_ledger_fails_open_when_redis_is_away() -> None:
    ledger = AlertLedger("redis://127.0.0.1:1/0")
    assert await ledger.delivered(["a", "b"]) == set()
    await ledger.record("a")  # swallowed error, remembered locally
    assert await ledger.delivered(["a", "b"]) == {"a"}
    await ledger.close()


def _at(plate: str, pass_id: str, t: float, camera: str = "cam-1") -> Read:
    return Read(
        read_id=str(uuid.uuid4()), camera_id=camera, time=t, plate=plate, confidence=0.9, pass_id=pass_id
    )


async def test_a_pass_split_in_two_alerts_once_per_camera_within_the_window() -> None:
    sync, ledger, sent = _sync(), MemoryLedger(), []

    async def send(alert: Alert) -> None:
        sent.append(alert)

    async def read(plate: str, pass_id: str, t: float, camera: str = "cam-1", window: float = 30.0) -> None:
        await process_read(_at(plate, pass_id, t, camera), sync, ledger, send, repeat_window_s=window)

    await read("7ABC123", "p1", 100.0)
    await read("7ABC123", "p2", 104.0)  # the same car, its pass split (handover, long occlusion)
    await read("7A8C123", "p3", 120.0)  # still in view, read fuzzily: the window runs from here
    await read("7ABC123", "p4", 145.0)  # 25 s after the last sighting: still the same stop
    await read("7ABC123", "p5", 104.0, camera="cam-2")  # another camera alerts on its own
    assert [(a.read.pass_id, a.read.camera_id) for a in sent] == [("p1", "cam-1"), ("p5", "cam-2")]

    await read("7ABC123", "p6", 176.0)  # 31 s after the car was last seen: it came back
    await read("7ABC123", "p7", 177.0, window=0.0)  # window off: every pass alerts
    assert [a.read.pass_id for a in sent[2:]] == ["p6", "p7"]


async def test_a_partial_entry_alerts_for_each_vehicle_it_matches() -> None:
    sync, ledger, sent = HotlistSync("redis://127.0.0.1:1/0"), MemoryLedger(), []
    index = HotlistIndex({"shooting": ListSettings("shooting", priority=1, partial=True)}, "pw:hot")
    index.upsert("shooting", "6?K*4", {"reason": "witness"})
    sync.index = index

    async def send(alert: Alert) -> None:
        sent.append(alert)

    for plate, pass_id, t in (("6XK9934", "p1", 10.0), ("6ZK0014", "p2", 12.0), ("6XK9934", "p3", 14.0)):
        await process_read(_at(plate, pass_id, t), sync, ledger, send, repeat_window_s=30.0)
    assert [(a.read.plate, a.match_kind) for a in sent] == [("6XK9934", "partial"), ("6ZK0014", "partial")]
