"""One read → the alerts it raises: matched, checked against the ledger, sent, then recorded."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from platewatch.codecs import Alert, Read
from platewatch.engine.hotlist import HotlistIndex
from platewatch.engine.hotlist import metrics as hm
from platewatch.engine.hotlist.entry import PROVISIONAL_THRESHOLD

from .build import build_alert
from .ledger import Ledger
from .matching import CropScorer, match_read

log = logging.getLogger(__name__)


async def process_read(
    read: Read,
    index: HotlistIndex,
    ledger: Ledger,
    send: Callable[[Alert], Awaitable[None]],
    now: Callable[[], float] = time.time,
    repeat_window_s: float = 0.0,
    opinion: CropScorer | None = None,
) -> list[Alert]:
    """Match one read and send an alert for each entry this pass (or, within `repeat_window_s`,
    this camera) has not alerted on yet. Matches below the list's possible threshold raise nothing;
    possible matches go out with tier "possible", for the dispatcher to show apart and quietly. A
    provisional read raises only alerts with evidence of at least PROVISIONAL_THRESHOLD: a weaker
    match waits for the pass's final read, whose vote has more frames.

    `send` must return once the alert is delivered: the ledger records it only afterwards, so a
    crash in between sends it again rather than never. `opinion` (the second recognizer) checks a
    doubtful match on the read's crop (engine/hotlist/matcher.py, `weigh`).
    """
    matches = [m for m in match_read(index, read, opinion) if m.tier]
    if read.provisional:
        # weak evidence waits for the pass's final vote; strong evidence alerts now
        matches = [m for m in matches if m.tier == "alert" and m.evidence >= PROVISIONAL_THRESHOLD]
    if not matches:
        return []
    alerts = [build_alert(read, m, now()) for m in matches]
    done = await ledger.delivered([a.alert_id for a in alerts])
    sent = []
    for alert in alerts:
        # A partial entry matches many vehicles: there the read's plate is part of the repeat key.
        key = str(alert.extra["entry_key"]) + (f"|{read.plate}" if alert.match_kind == "partial" else "")
        if alert.alert_id in done:
            hm.ALERTS_SUPPRESSED.inc()
            continue
        if repeat_window_s and await ledger.repeated(read.camera_id, key, read.time, repeat_window_s):
            hm.ALERTS_SUPPRESSED.inc()
            log.info("no second alert for %s at %s: a pass split in two", alert.entry, read.camera_id)
            await ledger.record_repeat(read.camera_id, key, read.time, repeat_window_s)  # still in view
            continue
        await send(alert)
        await ledger.record(alert.alert_id)
        if repeat_window_s:
            await ledger.record_repeat(read.camera_id, key, read.time, repeat_window_s)
        hm.ALERTS.labels(hotlist=alert.hotlist, kind=alert.match_kind).inc()
        log.info(
            "%s %s: %s on %s/%s (%s, evidence %.2f) at %s",
            alert.tier,
            alert.alert_id,
            read.plate,
            alert.hotlist,
            alert.entry,
            alert.match_kind,
            alert.evidence,
            read.camera_id,
        )
        sent.append(alert)
    return sent
