"""The webhook sender: queued deliveries (webhook_outbox.py) → signed POSTs to CAD and agencies.

Each destination has a loop of its own, so a receiver that is down or slow delays only its own
deliveries. A loop claims due rows (webhook_deliveries.claim_due: a lease, no lock held over the
POST), and sends them one at a time in offset order; after a failure it stops and gives the rest
of its batch back for the same delay, so a receiver that is down gets one attempt per backoff step,
not one per queued alert, and the events of a receiver that works arrive in offset order. Nothing
keeps that order across retries or between several workers: the payload carries the offset
(`data.offset`) for a receiver that needs it.

Before any data leaves, the transfer is written to the access log (Civil Code 1798.90.52: every
release of ALPR data is on record, naming who received it and under which approval): one row per
attempt that sends data. If the row cannot be written, nothing is sent and the delivery waits.

Bodies follow the Standard Webhooks payload convention (`type`, `timestamp` of the event, `data`:
the alert event as the dispatchers' websocket shows it) and are signed with the `standardwebhooks`
package; the body and the `webhook-id` are the same on every attempt, only `webhook-timestamp` and
the signature are new, so a receiver verifies each attempt and drops repeats by id.

The loops poll (every `poll_s`) rather than LISTEN on the alert stream's channel: retries come due
by the clock whatever is notified, most events queue no delivery at all, and one indexed query per
destination per second costs nothing. The first delivery of an alert waits at most `poll_s`.
Redirects are never followed: ALPR data goes only to the address that was approved.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
from standardwebhooks import Webhook

from platewatch.engine.config.env import MissingVariable, expand_env
from platewatch.engine.config.webhooks import WebhookConfig
from platewatch.engine.policy import access_log
from platewatch.engine.policy.access_log import AccessLogError, LogEntry
from platewatch.engine.policy.directory import Actor
from platewatch.engine.redaction import redact_url
from platewatch.engine.retry import backoff_delays

from . import webhook_deliveries as deliveries
from .records import events_since
from .views import event_view, list_age_s
from .webhook_deliveries import Claim, Status
from .webhook_metrics import DEAD_LETTERS, DELIVERIES, DELIVERY_SECONDS

log = logging.getLogger("platewatch.webhooks")

ACTION = "webhook.transfer"
#: Whose name the transfer rows carry: the engine sends, on the department's configuration.
SENDER = Actor(username="webhook-sender", organisation="platewatch (system)")
_LEASE_MARGIN_S = 30.0
_ERROR_BODY = 200  # characters of a refusing receiver's answer kept in last_error

Connect = Callable[[], psycopg.Connection]


def payload(row: Mapping[str, Any]) -> bytes:
    """The body of one event's delivery (a row of `records.events_since`)."""
    at = row["event_at"]
    data = event_view(row)
    if isinstance(at, dt.datetime):
        # The list's age when the event happened, not when this attempt left: so every attempt
        # carries the same body (and the age a receiver sees does not depend on retries).
        data["alert"]["list_age_s"] = list_age_s(row.get("details") or {}, now=at.timestamp())
    body = {
        "type": f"alert.{row['kind']}",
        "timestamp": at.astimezone(dt.UTC).isoformat() if isinstance(at, dt.datetime) else None,
        "data": data,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def signing_key(hook: WebhookConfig, env: Mapping[str, str] | None = None) -> Webhook:
    """The destination's signer, its `${ENV}` filled in now; ValueError names what is wrong, never
    the secret."""
    what = f"webhook {hook.name}'s secret"
    secret = expand_env(hook.secret.get_secret_value(), what, env)
    try:
        return Webhook(secret)
    except Exception:  # binascii.Error, EmptyWebhookSecretError, RuntimeError: which, not what
        raise ValueError(f"{what} is not a Standard Webhooks key (whsec_ and base64)") from None


def signed_headers(signer: Webhook, msg_id: str, body: bytes, at: dt.datetime) -> dict[str, str]:
    at = at.replace(microsecond=0)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signer.sign(msg_id, at, body),
    }


def transfer_entry(hook: WebhookConfig, claim: Claim, kind: str) -> LogEntry:
    """The access-log row of one attempt: to whom, under which approval, which alert."""
    return LogEntry.by(
        SENDER,
        ACTION,
        terms={
            "destination": hook.name,
            "recipient": hook.recipient.value,
            "agency": hook.agency or None,
            "approval": hook.approval or None,
            "url": redact_url(hook.url),
            "event": kind,
            "msg_id": claim.msg_id,
            "attempt": claim.attempt,
        },
        alert_id=claim.alert_id,
        returned_count=1,
        returned_ids=[claim.alert_id],
    )


@dataclass(frozen=True)
class Outgoing:
    """A message ready to POST; its transfer is on record."""

    claim: Claim
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class NotSent:
    """An attempt that ended before any data left. `counted`: a failed attempt (the secret or URL
    cannot be used); not counted: held, because the access log could not be written."""

    claim: Claim
    error: str
    counted: bool


class DestinationSender:
    """Deliveries to one destination; `run_once` is one claim-and-send round."""

    def __init__(
        self,
        hook: WebhookConfig,
        database_url: str,
        client: httpx.AsyncClient,
        *,
        batch: int = 10,
        rng: random.Random | None = None,
        env: Mapping[str, str] | None = None,
        connect: Connect | None = None,
    ) -> None:
        self.hook = hook
        self._client = client
        self._batch = batch
        self._rng = rng or random.Random()
        self._env = env
        self._connect = connect or (
            lambda: psycopg.connect(database_url, autocommit=True, prepare_threshold=None)
        )
        self._conn: psycopg.Connection | None = None
        # Sent one at a time, so a batch ends within batch * timeout; past that, another sender may
        # take the rows (and the receiver drops the repeats).
        self.lease_s = batch * hook.timeout_s + _LEASE_MARGIN_S

    @property
    def batch(self) -> int:
        return self._batch

    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def run_once(self) -> int:
        """Claim due deliveries and send them; returns how many were claimed."""
        claims = await asyncio.to_thread(self._claim)
        for i, claim in enumerate(claims):
            prepared = await asyncio.to_thread(self._prepare, claim)
            if prepared is None:
                continue  # dead-lettered: nothing to send
            if isinstance(prepared, NotSent):
                await asyncio.to_thread(self._not_sent, prepared, claims[i + 1 :])
                break
            http_status, error = await self._post(prepared)
            status = await asyncio.to_thread(self._settle, claim, http_status, error)
            if status != "delivered":
                await asyncio.to_thread(self._hold_rest, claim, claims[i + 1 :])
                break
        return len(claims)

    # --- the database side (in a thread) ---------------------------------------------------------

    def _claim(self) -> list[Claim]:
        return deliveries.claim_due(self._db(), self._batch, destination=self.hook.name, lease_s=self.lease_s)

    def _prepare(self, claim: Claim) -> Outgoing | NotSent | None:
        conn = self._db()
        rows = events_since(conn, claim.event_seq - 1, limit=1)
        if not rows or rows[0]["seq"] != claim.event_seq:
            if deliveries.bury(conn, claim, f"event {claim.event_seq} is no longer stored"):
                self._count(claim, "dead")
            return None
        row = rows[0]
        try:
            signer = signing_key(self.hook, self._env)
            url = expand_env(self.hook.url, f"webhook {self.hook.name}'s URL", self._env)
        except (MissingVariable, ValueError) as exc:
            return NotSent(claim, str(exc), counted=True)
        try:
            body = payload(row)
            headers = signed_headers(signer, claim.msg_id, body, dt.datetime.now(dt.UTC))
        except Exception as exc:  # a stored alert the view cannot render: counted, so it ends dead
            log.error(
                "webhook %s: %s cannot be rendered (%s)", self.hook.name, claim.msg_id, type(exc).__name__
            )
            return NotSent(
                claim, f"the payload could not be built ({type(exc).__name__}: {exc})", counted=True
            )
        try:
            access_log.append(conn, transfer_entry(self.hook, claim, str(row["kind"])))
        except (AccessLogError, psycopg.Error) as exc:
            log.error(
                "webhook %s: the access log could not be written (%s), so %s was not sent",
                self.hook.name,
                type(exc).__name__,
                claim.msg_id,
            )
            return NotSent(
                claim, f"access log unavailable ({type(exc).__name__}): nothing sent", counted=False
            )
        return Outgoing(claim, url, headers, body)

    def _not_sent(self, outcome: NotSent, rest: Sequence[Claim]) -> None:
        conn = self._db()
        if outcome.counted:
            self._settle(outcome.claim, None, outcome.error)
            self._hold_rest(outcome.claim, rest)
            return
        DELIVERIES.labels(self.hook.name, "held").inc()
        # Not an attempt: nothing left. Tried again after the destination's first backoff step.
        deliveries.release(conn, [outcome.claim], self.hook.backoff_s, outcome.error)
        deliveries.release(conn, rest, self.hook.backoff_s)

    def _settle(self, claim: Claim, http_status: int | None, error: str | None) -> Status | None:
        conn = self._db()
        if error is None and http_status is not None:
            if deliveries.record_delivered(conn, claim, http_status):
                self._count(claim, "delivered")
            return "delivered"
        delay = deliveries.retry_delay(claim.attempt, self.hook.backoff_s, self.hook.backoff_max_s, self._rng)
        status = deliveries.record_failed(
            conn,
            claim,
            error=error or "failed",
            http_status=http_status,
            max_attempts=self.hook.max_attempts,
            delay_s=delay,
        )
        if status is not None:
            self._count(claim, "dead" if status == "dead" else "failed")
            log.warning(
                "webhook %s: %s attempt %d of %d failed (%s); %s",
                self.hook.name,
                claim.msg_id,
                claim.attempt,
                self.hook.max_attempts,
                error,
                "dead-lettered" if status == "dead" else f"next in {delay:.1f}s",
            )
        return status

    def _hold_rest(self, failed: Claim, rest: Sequence[Claim]) -> None:
        """The rest of the batch waits as long as the message that just failed."""
        deliveries.release_after(self._db(), rest, failed)

    def _count(self, claim: Claim, outcome: str) -> None:
        DELIVERIES.labels(self.hook.name, outcome).inc()
        if outcome == "dead":
            DEAD_LETTERS.labels(self.hook.name).set(deliveries.dead_counts(self._db()).get(self.hook.name, 0))

    # --- the HTTP side ---------------------------------------------------------------------------

    async def _post(self, out: Outgoing) -> tuple[int | None, str | None]:
        """POST one message: (HTTP status, None) when the receiver took it, else (status, why)."""
        started = time.perf_counter()
        try:
            async with self._client.stream(
                "POST", out.url, content=out.body, headers=out.headers, timeout=self.hook.timeout_s
            ) as response:
                status = response.status_code
                if 200 <= status < 300:
                    return status, None
                if 300 <= status < 400:
                    return (
                        status,
                        f"HTTP {status}: redirects are not followed (data goes only where approved)",
                    )
                answer = b""
                async for chunk in response.aiter_bytes():
                    answer += chunk
                    if len(answer) >= _ERROR_BODY:
                        break
                text = answer[:_ERROR_BODY].decode("utf-8", "replace")
                return status, f"HTTP {status}: {text}".strip()
        except Exception as exc:  # httpx.HTTPError mostly; also InvalidURL from a filled-in ${ENV}
            # The URL with its ${ENV} filled in may hold a token: show the configured one.
            reason = str(exc).replace(out.url, redact_url(self.hook.url)) or "no detail"
            return None, f"{type(exc).__name__}: {reason}"
        finally:
            DELIVERY_SECONDS.labels(self.hook.name).observe(time.perf_counter() - started)


def check_secrets(webhooks: Sequence[WebhookConfig], env: Mapping[str, str] | None = None) -> list[str]:
    """A sentence for each destination whose secret or URL cannot be used now (logged at start, so
    a missing variable shows before the first alert fails to go out)."""
    problems = []
    for hook in webhooks:
        try:
            signing_key(hook, env)
            expand_env(hook.url, f"webhook {hook.name}'s URL", env)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _destination_loop(sender: DestinationSender, stop: asyncio.Event, poll_s: float) -> None:
    delays = backoff_delays(base=poll_s, cap=30.0)
    while not stop.is_set():
        try:
            claimed = await sender.run_once()
        except Exception as exc:  # a worker keeps running; the rows wait for their lease to end
            delay = next(delays)
            log.warning(
                "webhook %s: sending stopped (%s: %s); again in %.1fs",
                sender.hook.name,
                type(exc).__name__,
                exc,
                delay,
            )
            await asyncio.to_thread(sender.close)
            await _wait(stop, delay)
            continue
        delays = backoff_delays(base=poll_s, cap=30.0)
        if claimed < sender.batch:
            await _wait(stop, poll_s)


def _housekeeping(connect: Connect, names: Sequence[str], grace_s: float) -> None:
    with connect() as conn:
        buried = deliveries.bury_removed(conn, names, grace_s)
        if buried:
            log.warning(
                "webhooks: %d pending deliveries to destinations no longer configured are dead", buried
            )
        counts = deliveries.dead_counts(conn)
    for name in {*names, *counts}:
        DEAD_LETTERS.labels(name).set(counts.get(name, 0))


async def _housekeeping_loop(
    connect: Connect, names: Sequence[str], stop: asyncio.Event, every_s: float, grace_s: float
) -> None:
    while not stop.is_set():
        try:
            await asyncio.to_thread(_housekeeping, connect, names, grace_s)
        except Exception as exc:
            log.warning("webhooks: housekeeping failed (%s: %s)", type(exc).__name__, exc)
        await _wait(stop, every_s)


async def run_sender(
    database_url: str,
    webhooks: Sequence[WebhookConfig],
    stop_event: asyncio.Event,
    poll_s: float = 1.0,
    *,
    batch: int = 10,
    housekeeping_s: float = 30.0,
    removed_grace_s: float = 300.0,
    env: Mapping[str, str] | None = None,
) -> None:
    """Send until `stop_event` is set (or the task is cancelled). Many senders (workers) may run at
    once: claims skip each other's rows. Pending rows of destinations that are no longer configured
    are dead-lettered once they are `removed_grace_s` old."""

    def connect() -> psycopg.Connection:
        return psycopg.connect(database_url, autocommit=True, prepare_threshold=None)

    for problem in check_secrets(webhooks, env):
        log.error("webhooks: %s; its deliveries fail until it is fixed", problem)
    names = [hook.name for hook in webhooks]
    async with httpx.AsyncClient(follow_redirects=False) as client:
        senders = [
            DestinationSender(hook, database_url, client, batch=batch, env=env, connect=connect)
            for hook in webhooks
        ]
        tasks = [asyncio.create_task(_destination_loop(s, stop_event, poll_s)) for s in senders]
        tasks.append(
            asyncio.create_task(
                _housekeeping_loop(connect, names, stop_event, housekeeping_s, removed_grace_s)
            )
        )
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sender in senders:
                await asyncio.to_thread(sender.close)
