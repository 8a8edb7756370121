"""The `match` agents: pw.reads → the alerts stage (engine/alerts) → pw.alerts.

Redis down when a worker starts: until the hotlist is first loaded, reads are parked on
pw.match-pending (a topic of their own, consumed by the `match-pending` agent once the index is
ready) instead of being held on pw.reads, which would stall the persist agent too. They are parked
under their camera key, so each camera's reads stay in order there as on pw.reads.

Every hotlist change the sync sees is written to the access log (Redis commands carry no user): on
the leader only, so a change is logged once however many workers see it, and queued to a thread
(engine/policy/log_queue.py) so that matching never waits on the database.

The second opinion (engine/vision/second_opinion.py, fast-plate-ocr's recognizer) is loaded once
per worker when its fusion is fitted (engine/hotlist/fusion.py; shipped off, docs/hotlist.md): it
checks doubtful matches on the read's crop. If it cannot be loaded the worker runs on the read's
own evidence, with a warning.

A read that does not decode is skipped here: the persist agent on the same topic already
quarantines it on pw.deadletter, and a second dead letter for the same message would only mislead.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import faust
from faust.types import StreamT

from platewatch.codecs import Alert, CodecError, decode_read, encode_alert
from platewatch.engine.alerts import AlertLedger, list_defaults, process_read
from platewatch.engine.config import Settings
from platewatch.engine.hotlist.sync import HotlistChange, HotlistSync
from platewatch.engine.policy.hotlist_changes import change_entry
from platewatch.engine.policy.log_queue import QueuedLog

from .topics import Topics

log = logging.getLogger(__name__)


def load_second_opinion() -> Any:
    """The second recognizer, or None: when its fusion is not fitted (engine/hotlist/fusion.py:
    it would cost an inference per doubtful read and change nothing), or, with a warning, when it
    cannot be loaded."""
    from platewatch.engine.hotlist import fusion

    if fusion.WEIGHTS is None:
        return None
    try:
        from platewatch.engine.vision.second_opinion import SecondOpinion

        return SecondOpinion.load()
    except Exception as exc:  # a missing model file or runtime must not stop matching
        log.warning("second opinion unavailable, matching on the read's own evidence: %s", exc)
        return None


def register_match_agent(
    app: faust.App, topics: Topics, settings: Settings, redis_url: str, database_url: str
) -> HotlistSync:
    """Add the `match` agents to the app; returns the sync that owns the index (started by the agent)."""
    changes = QueuedLog(database_url)

    def record(change: HotlistChange) -> None:
        if app.is_leader():
            changes.submit(change_entry(change))

    sync = HotlistSync(redis_url, defaults=list_defaults(settings.hotlists), on_change=record)
    ledger = AlertLedger(redis_url)
    opinion = load_second_opinion()

    async def send(alert: Alert) -> None:
        delivery: Any = await topics.alerts.send(key=alert.read.camera_id.encode(), value=encode_alert(alert))
        await delivery  # delivered before the ledger says so

    async def handle(value: bytes) -> None:
        try:
            read = decode_read(value)
        except CodecError:
            return  # the persist agent quarantines it
        if read.plateless:
            return  # a vehicle whose plate could not be read: stored and searchable, never matched
        await process_read(
            read,
            sync.index,
            ledger,
            send,
            repeat_window_s=settings.alerts.repeat_window_s,
            opinion=opinion,
        )

    @app.agent(topics.reads, name="match")
    async def match(stream: StreamT[bytes]) -> None:
        changes.start()
        await sync.start()
        try:
            # Matching against an empty index would silently miss alerts; holding the reads here
            # would stall pw.reads once Faust's buffer is full. An offset is committed only after
            # its read is safely parked.
            async for event in cast(faust.Stream[bytes], stream).events():
                value = cast(bytes, event.value)
                if sync.ready.is_set():
                    await handle(value)
                    continue
                delivery: Any = await topics.match_pending.send(key=event.message.key, value=value)
                await delivery
        finally:
            await sync.stop()
            await ledger.close()
            await asyncio.to_thread(changes.stop)

    @app.agent(topics.match_pending, name="match-pending")
    async def match_pending(stream: StreamT[bytes]) -> None:
        await sync.wait_ready()  # only this topic waits; pw.reads flows on
        async for value in cast(faust.Stream[bytes], stream):
            await handle(value)

    return sync
