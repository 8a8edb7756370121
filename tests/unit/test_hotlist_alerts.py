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
