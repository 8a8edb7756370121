"""/api/v1/alerts: the dispatcher's desk (REST) and the live feed (websocket).

Dispatchers and supervisors with current training. Every route writes its access-log row before
its answer leaves, with the purpose "alert verification" and, for one alert, its id (policy 462.2(f),
462.4(a)). The live feed is logged per connection, not per message: a row when it opens (who, when,
from which offset), then the ids delivered on it, written every `alerts.ws_log_every_s` and when it
closes; if such a row cannot be written, the connection is closed (1011) and the page reconnects.

The websocket protocol (hello → replay → live events, heartbeats, close codes) is in
docs/dispatch.md; the fan-out across API instances in `fanout.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Response, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field
from starlette.websockets import WebSocketState

from platewatch.engine.alerts import lifecycle, records, stream
from platewatch.engine.alerts.lifecycle import Disposition, Step, StepError
from platewatch.engine.alerts.records import OPEN_STATES, STATES, AlertFilter
from platewatch.engine.alerts.views import alert_view
from platewatch.engine.config.access import ALERT_VERIFICATION
from platewatch.engine.policy.access_log import LogEntry
from platewatch.engine.policy.purposes import StatedPurpose
from platewatch.engine.policy.roles import Role

from . import alert_metrics as m
from .deps import Caller, require
from .errors import ApiError
from .fanout import TOO_SLOW, Fanout, FellBehind, Outgoing, Subscriber, frame, to_outgoing
from .socket_guard import SocketCaller, SocketGuard, write_with_pool

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

DESK = require(Role.DISPATCHER, Role.SUPERVISOR)
Desk = Annotated[Caller, Depends(DESK)]
FEED = SocketGuard(Role.DISPATCHER, Role.SUPERVISOR)
AlertId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9-]{1,64}$", description="The alert's id")]
LOG_BATCH = 500  # delivered ids per access-log row
BATCH_MAX = 100  # events in one websocket frame at most


def _purpose(alert_id: str | None = None) -> StatedPurpose:
    return StatedPurpose(purpose=ALERT_VERIFICATION, case_number=None, alert_id=alert_id)


class AlertList(BaseModel):
    alerts: list[dict[str, Any]]
    epoch: str = Field(description="The change stream's epoch (for the websocket's replay)")
    offset: int = Field(description="The stream's newest offset when the list was read")


@router.get("", name="alerts.list", response_model=AlertList)
def list_alerts(
    caller: Desk,
    state: Annotated[
        list[str] | None, Query(description="States to show; 'open' = new + acknowledged")
    ] = None,
    hotlist: Annotated[str | None, Query(max_length=64)] = None,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    tier: Annotated[Literal["alert", "possible"] | None, Query()] = None,
    since: Annotated[dt.datetime | None, Query(description="Raised at or after (ISO 8601)")] = None,
    until: Annotated[dt.datetime | None, Query(description="Raised before (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> AlertList:
    states: list[str] = []
    for s in state or ():
        if s == "open":
            states.extend(OPEN_STATES)
        elif s in STATES:
            states.append(s)
        else:
            raise ApiError(
                422, "state", f"{s[:40]!r} is not a state: open, {', '.join(STATES)}", field="state"
            )
    terms = {"state": states, "hotlist": hotlist, "camera": camera, "tier": tier, "limit": limit}
    with caller.alongside(terms=terms, purpose=_purpose()) as returned:  # the access row commits meanwhile
        head = stream.head(caller.conn)
        rows = records.list_alerts(
            caller.conn, AlertFilter(tuple(states), hotlist, camera, tier, since, until, limit)
        )
        returned.ids([r["alert_id"] for r in rows])
    return AlertList(alerts=[alert_view(r) for r in rows], epoch=head.epoch, offset=head.last_seq)


@router.get("/{alert_id}", name="alerts.get")
def get_alert(caller: Desk, alert_id: AlertId) -> dict[str, Any]:
    with caller.alongside(terms={"alert": alert_id}, purpose=_purpose(alert_id)) as returned:
        row = records.get_alert(caller.conn, alert_id)
        history = records.history(caller.conn, alert_id) if row is not None else []
        if row is None:
            returned.refuse("not found")
        else:
            returned.ids([alert_id])
    if row is None:
        raise ApiError(404, "not_found", f"no alert {alert_id}")
    return {
        "alert": alert_view(row),
        "history": [{**h, "at": h["at"].isoformat()} for h in history],
    }


@router.get("/{alert_id}/crop", name="alerts.crop", response_class=Response)
def get_crop(caller: Desk, alert_id: AlertId) -> Response:
    with caller.alongside(terms={"alert": alert_id, "image": "crop"}, purpose=_purpose(alert_id)) as returned:
        jpeg = records.crop(caller.conn, alert_id)
        if jpeg is None:
            returned.refuse("no crop")
        else:
            returned.ids([alert_id])
    if jpeg is None:
        raise ApiError(404, "not_found", f"alert {alert_id} has no plate image")
    return Response(jpeg, media_type="image/jpeg")


class StepBody(BaseModel):
    note: str | None = Field(None, max_length=lifecycle.NOTE_LIMIT)


class FalseHitBody(BaseModel):
    reason: str | None = Field(None, max_length=lifecycle.NOTE_LIMIT, description="Why it is not the vehicle")


class DispositionBody(BaseModel):
    disposition: Disposition
    note: str | None = Field(None, max_length=lifecycle.NOTE_LIMIT)


class StepOut(BaseModel):
    alert: dict[str, Any]
    changed: bool = Field(description="False: it already was so (a repeat); nothing new was recorded")


def _step(caller: Caller, alert_id: str, name: str, act: Any) -> StepOut:
    try:
        result = act()
    except StepError as exc:
        m.STEPS.labels(step=name, outcome=exc.code).inc()
        caller.log(
            outcome="refused", reason=f"{exc.code}: {exc}", terms={"alert": alert_id}, purpose=_purpose()
        )
        detail: dict[str, Any] = {"code": exc.code, "message": str(exc)}
        if exc.alert is not None:
            detail["alert"] = alert_view(exc.alert)
        raise _refusal(exc.status, detail) from None
    m.STEPS.labels(step=name, outcome="done" if result.changed else "repeat").inc()
    caller.log(
        purpose=_purpose(alert_id), returned_ids=[alert_id], terms={"step": name, "changed": result.changed}
    )
    return StepOut(alert=alert_view(result.alert), changed=result.changed)


def _refusal(status: int, detail: dict[str, Any]) -> ApiError:
    err = ApiError(status, detail["code"], detail["message"])
    err.detail = detail  # type: ignore[assignment]  # the alert as it is now: the loser sees who won
    return err


def _actor(caller: Caller) -> dict[str, Any]:
    return {"actor": caller.user.username, "actor_org": caller.user.organisation}


def _lifecycle_step(caller: Caller, alert_id: str, step: Step, note: str | None) -> StepOut:
    hooks = caller.settings.webhooks
    return _step(
        caller,
        alert_id,
        step.value,
        lambda: lifecycle.take_step(caller.conn, alert_id, step, note=note, webhooks=hooks, **_actor(caller)),
    )


@router.post("/{alert_id}/acknowledge", name="alerts.acknowledge", response_model=StepOut)
def acknowledge(caller: Desk, alert_id: AlertId, body: Annotated[StepBody | None, Body()] = None) -> StepOut:
    return _lifecycle_step(caller, alert_id, Step.ACKNOWLEDGE, body.note if body else None)


@router.post("/{alert_id}/verify", name="alerts.verify", response_model=StepOut)
def verify(caller: Desk, alert_id: AlertId, body: StepBody) -> StepOut:
    return _lifecycle_step(caller, alert_id, Step.VERIFY, body.note)


@router.post("/{alert_id}/false-hit", name="alerts.false_hit", response_model=StepOut)
def false_hit(caller: Desk, alert_id: AlertId, body: FalseHitBody) -> StepOut:
    return _lifecycle_step(caller, alert_id, Step.FALSE_HIT, body.reason)


@router.post("/{alert_id}/disposition", name="alerts.disposition", response_model=StepOut)
def disposition(caller: Desk, alert_id: AlertId, body: DispositionBody) -> StepOut:
    hooks = caller.settings.webhooks
    return _step(
        caller,
        alert_id,
        "disposition",
        lambda: lifecycle.set_disposition(
            caller.conn, alert_id, body.disposition, note=body.note, webhooks=hooks, **_actor(caller)
        ),
    )


# -- the live feed -------------------------------------------------------------------------------


class _Feed:
    """One open websocket: its subscriber, what it has been sent, and what is still to be logged."""

    def __init__(self, ws: WebSocket, who: SocketCaller, fanout: Fanout) -> None:
        self.ws = ws
        self.who = who
        self.fanout = fanout
        self.sub: Subscriber | None = None
        self.last_sent = 0
        self.unlogged: list[str] = []
        self.close_code: int | None = None

    async def send(self, text: str, timeout_s: float) -> None:
        try:
            async with asyncio.timeout(timeout_s):  # a timer, not a task per message as wait_for makes
                await self.ws.send_text(text)
        except TimeoutError:
            self.close_code = TOO_SLOW
            raise

    async def deliver(self, items: Sequence[Outgoing], timeout_s: float, text: str | None = None) -> None:
        """Send the events not sent yet in one frame (`fanout.frame`); `text`: that frame, already
        built for `items` (the live path shares one among the clients at the same offset)."""
        fresh = [i for i in items if i.seq > self.last_sent]
        if not fresh:
            return
        await self.send(text if text is not None and len(fresh) == len(items) else frame(fresh), timeout_s)
        self.last_sent = fresh[-1].seq
        self.unlogged.extend(i.alert_id for i in fresh)
        now = time.time()
        raised = [i for i in fresh if i.kind == "raised"]
        if raised:
            m.DELIVERY_SECONDS.observe_many([max(0.0, now - i.raised_at) for i in raised])
            m.FRAME_TO_SCREEN_SECONDS.observe_many([max(0.0, now - i.read_time) for i in raised])

    async def flush_log(self, final: bool = False) -> None:
        if not self.unlogged:
            return
        ids = list(dict.fromkeys(self.unlogged))
        self.unlogged.clear()
        for start in range(0, len(ids), LOG_BATCH):
            chunk = ids[start : start + LOG_BATCH]
            entry = LogEntry.by(
                self.who.actor,
                "alerts.feed.delivered",
                terms={"offset": self.last_sent, "closing": final},
                purpose=ALERT_VERIFICATION,
                returned_count=len(chunk),
                returned_ids=chunk,
            )
            await asyncio.to_thread(write_with_pool, self.ws, entry)


async def _replay(feed: _Feed, after: int, upto: int, timeout_s: float) -> int:
    """Send the events in (after, upto] from the database, in order."""
    sent = 0
    pool = feed.ws.app.state.pool
    while after < upto:

        def page(after: int = after) -> list[dict[str, Any]]:
            with pool.connection() as conn:
                return records.events_since(conn, after, 500)

        rows = [r for r in await asyncio.to_thread(page) if r["seq"] <= upto]
        if not rows:
            break
        for start in range(0, len(rows), BATCH_MAX):
            await feed.deliver([to_outgoing(r) for r in rows[start : start + BATCH_MAX]], timeout_s)
        sent += len(rows)
        after = int(rows[-1]["seq"])
    return sent


@router.websocket("/ws", name="alerts.feed")
async def feed(websocket: WebSocket, who: Annotated[SocketCaller, Depends(FEED)]) -> None:
    settings = websocket.app.state.settings.alerts
    await websocket.accept()
    if who.refusal is not None:
        code, reason = who.refusal
        with contextlib.suppress(Exception):
            await websocket.send_text(json.dumps({"type": "error", "code": code, "message": reason}))
            await websocket.close(code=4401 if code == "unauthenticated" else 4403, reason=code)
        return
    fanout: Fanout | None = websocket.app.state.fanout
    if fanout is None or not await fanout.ready():
        await websocket.close(code=1011, reason="the alert stream is not available")
        return
    state = _Feed(websocket, who, fanout)
    offset = _int_param(websocket.query_params.get("offset"))
    epoch = websocket.query_params.get("epoch") or None
    reason = "closed"
    sub = fanout.subscribe()
    state.sub = sub
    try:
        head = await asyncio.to_thread(_head, websocket)
        recovered = stream.recoverable(head, epoch, offset) and epoch == fanout.epoch
        opened = LogEntry.by(
            who.actor,
            "alerts.feed",
            terms={"offset": offset, "epoch": epoch, "recovered": recovered},
            purpose=ALERT_VERIFICATION,
        )
        await asyncio.to_thread(write_with_pool, websocket, opened)
        hello = {
            "type": "hello",
            "epoch": fanout.epoch,
            "offset": sub.cursor,
            "recovered": recovered,
            "heartbeat_s": settings.ws_heartbeat_s,
            "user": who.actor.username,
        }
        await state.send(json.dumps(hello), settings.ws_send_timeout_s)
        if recovered and offset is not None:
            state.last_sent = offset
            count = await _replay(state, offset, sub.cursor, settings.ws_send_timeout_s)
            msg = {"type": "replayed", "count": count, "offset": state.last_sent}
            await state.send(json.dumps(msg), settings.ws_send_timeout_s)
        else:
            state.last_sent = sub.cursor
        sender = asyncio.create_task(_pump(state, settings.ws_heartbeat_s, settings.ws_send_timeout_s))
        reader = asyncio.create_task(_read(websocket, state, settings.ws_send_timeout_s))
        logger = asyncio.create_task(_log_every(state, settings.ws_log_every_s))
        done, pending = await asyncio.wait({sender, reader, logger}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in done:
            exc = task.exception() if not task.cancelled() else None
            if exc is not None and not isinstance(exc, WebSocketDisconnect):
                raise exc
        reason = "client"
    except WebSocketDisconnect:
        reason = "client"
    except (TimeoutError, FellBehind):
        reason = "too_slow"
        state.close_code = TOO_SLOW
    except Flooded as exc:
        reason = "flood"
        state.close_code = POLICY_VIOLATION
        log.warning("alert feed of %s closed: the client sent %s", who.actor.username, exc)
    except ApiError:
        reason = "access_log"
        state.close_code = 1011
    finally:
        fanout.unsubscribe(sub)
        m.WS_DISCONNECTS.labels(reason=reason).inc()
        try:
            await state.flush_log(final=True)
        except ApiError:
            log.error("the delivered ids of %s's feed could not be logged", who.actor.username)
        if websocket.application_state is WebSocketState.CONNECTED:
            close_code = state.close_code or 1000
            with contextlib.suppress(Exception):  # a stalled socket may not take even the close frame
                await asyncio.wait_for(
                    websocket.close(code=close_code, reason=reason if close_code != 1000 else ""), 2.0
                )


def _int_param(value: str | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def _head(websocket: WebSocket) -> stream.Head:
    with websocket.app.state.pool.connection() as conn:
        return stream.head(conn)


async def _pump(feed: _Feed, heartbeat_s: float, timeout_s: float) -> None:
    """The process's ring → this socket, from the client's cursor; a heartbeat when idle."""
    sub = feed.sub
    assert sub is not None
    while True:
        sub.wake.clear()
        pending = feed.fanout.pending(max(sub.cursor, feed.last_sent), BATCH_MAX)
        if pending is None:
            try:
                async with asyncio.timeout(heartbeat_s):  # a timer, not the task wait_for makes per wake
                    await sub.wake.wait()
            except TimeoutError:
                beat = {"type": "heartbeat", "offset": feed.last_sent, "time": time.time()}
                await feed.send(json.dumps(beat), timeout_s)
            continue
        items, text = pending
        await feed.deliver(items, timeout_s, text)
        sub.cursor = feed.last_sent


class Flooded(Exception):
    """A client sending more than the feed protocol ever needs (a ping now and then)."""


#: Messages a client may send in one second (the page pings every few seconds) and the largest one
#: read (a ping is a few dozen bytes); past either the socket is closed with 1008, logged and counted.
CLIENT_MESSAGES_PER_S = 20
CLIENT_MESSAGE_BYTES = 4096
POLICY_VIOLATION = 1008


async def _read(websocket: WebSocket, feed: _Feed, timeout_s: float) -> None:
    """The client's side: pings are answered; the loop ends when the client goes, or floods."""
    window_start, count = time.monotonic(), 0
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        now = time.monotonic()
        if now - window_start >= 1.0:
            window_start, count = now, 0
        count += 1
        text = message.get("text") or ""
        size = len(text) + len(message.get("bytes") or b"")
        if count > CLIENT_MESSAGES_PER_S or size > CLIENT_MESSAGE_BYTES:
            raise Flooded(
                f"{count} messages in a second" if size <= CLIENT_MESSAGE_BYTES else f"{size} bytes"
            )
        if len(text) <= 200 and '"ping"' in text:
            await feed.send(json.dumps({"type": "pong", "offset": feed.last_sent}), timeout_s)


async def _log_every(feed: _Feed, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        await feed.flush_log()
