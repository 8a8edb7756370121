"""The `dispatch` agent: pw.alerts → the alerts table (engine/alerts/desk.py), a batch at a time;
and the expiry of alerts nobody finished, on the leader.

From the table, every API instance follows the change stream and pushes to dispatchers' screens
(engine/api/fanout.py). A batch is acknowledged only once it is stored; an alert that does not
decode is quarantined on pw.deadletter and the rest of its batch goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, cast

import faust
from faust.types import EventT, StreamT

from platewatch.codecs import Alert, CodecError, decode_alert
from platewatch.engine.alerts.desk import AlertDesk
from platewatch.engine.config import Settings

from .deadletter import DeadLetterSink
from .persist import withhold_acks
from .topics import Topics

log = logging.getLogger(__name__)
BATCH = 200
EXPIRE_EVERY_S = 30.0


def register_dispatch_agent(
    app: faust.App, topics: Topics, settings: Settings, database_url: str
) -> AlertDesk:
    desk = AlertDesk(database_url, settings)
    sink = DeadLetterSink(topics.deadletter)

    @app.agent(topics.alerts, name="dispatch")
    async def dispatch(stream: StreamT[bytes]) -> None:
        try:
            async for events in cast(faust.Stream[bytes], stream).take_events(BATCH, within=0.01):
                try:
                    alerts = await _decode(events, sink)
                    while True:
                        try:
                            await asyncio.to_thread(desk.store, alerts)
                            break
                        except Exception as exc:  # the database is away: keep the batch, try again
                            log.warning("alerts not stored (%s); retrying", type(exc).__name__)
                            await asyncio.sleep(1.0)
                except BaseException:
                    withhold_acks(events)
                    raise
        finally:
            await asyncio.to_thread(desk.close)

    async def expire_alerts() -> None:
        try:
            expired = await asyncio.to_thread(desk.expire)
        except Exception as exc:
            log.warning("alert expiry skipped (%s)", type(exc).__name__)
            return
        if expired:
            log.info("%d alert(s) expired unanswered", expired)

    cast(Any, app.timer(interval=EXPIRE_EVERY_S, on_leader=True))(expire_alerts)
    return desk


async def _decode(events: Sequence[EventT[bytes]], sink: DeadLetterSink) -> list[Alert]:
    alerts = []
    for event in events:
        try:
            alerts.append(decode_alert(cast(bytes, event.value)))
        except CodecError as exc:
            await sink.quarantine(event, str(exc), kind="decode")
    return alerts
