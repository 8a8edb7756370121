"""What a dispatcher does to an alert, and the rules that keep it honest (policy 462.2(f)).

new → acknowledged → verified | false_hit, and new | acknowledged → expired when nobody finishes in
time; then, once verified, the disposition (what came of it). No step is skipped: verifying takes an
acknowledgement first, so someone owned the alert while they checked it. Verifying takes a note (the
CLETS/NCIC response that confirmed the vehicle), a false hit takes a reason.

Race-safe and idempotent: each step locks the alert's row, so of two dispatchers acting at once one
wins; the other's step finds the new state and is refused with it (`StepConflict` carries the
alert), unless it asked for exactly what already happened, which is answered as done. Every change
is an event on the stream (`stream.append_event`) in the same transaction, and queued for the
webhooks that take it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import dict_row

from platewatch.engine.config.webhooks import WebhookConfig

from .records import ALERT_COLUMNS, get_alert
from .stream import append_event
from .webhook_outbox import enqueue

NOTE_LIMIT = 2000


class Step(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    VERIFY = "verify"
    FALSE_HIT = "false_hit"
    EXPIRE = "expire"


class Disposition(StrEnum):
    STOP_MADE = "stop_made"
    VEHICLE_RECOVERED = "vehicle_recovered"
    ARREST = "arrest"
    NO_ACTION = "no_action"


#: step → (states it may start from, state it leads to)
RULES: dict[Step, tuple[frozenset[str], str]] = {
    Step.ACKNOWLEDGE: (frozenset({"new"}), "acknowledged"),
    Step.VERIFY: (frozenset({"acknowledged"}), "verified"),
    Step.FALSE_HIT: (frozenset({"acknowledged"}), "false_hit"),
    Step.EXPIRE: (frozenset({"new", "acknowledged"}), "expired"),
}


class StepError(Exception):
    """A step the rules refuse; `code` names the rule for the API's answer."""

    status = 422

    def __init__(self, code: str, message: str, alert: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.alert = alert


class AlertNotFound(StepError):
    status = 404


class StepConflict(StepError):
    """The alert is no longer where the step starts (someone else moved it): `alert` is how it is now."""

    status = 409


@dataclass(frozen=True)
class StepResult:
    alert: dict[str, Any]
    changed: bool  # False: it was already so (a repeat), nothing new recorded
    seq: int | None  # the event's offset when changed


def _note(note: str | None) -> str | None:
    if note is None:
        return None
    cleaned = note.replace("\x00", "").strip()
    return cleaned[:NOTE_LIMIT] or None


def _locked(conn: psycopg.Connection, alert_id: str) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = %s FOR UPDATE", (alert_id,)
        ).fetchone()
    if row is None:
        raise AlertNotFound("not_found", f"no alert {alert_id}")
    return row


def take_step(
    conn: psycopg.Connection,
    alert_id: str,
    step: Step,
    *,
    actor: str,
    actor_org: str | None = None,
    note: str | None = None,
    webhooks: Sequence[WebhookConfig] = (),
    now: dt.datetime | None = None,
) -> StepResult:
    """Move the alert one step; raises `StepError` (or a subclass) when the rules refuse."""
    note = _note(note)
    if step is Step.VERIFY and not note:
        raise StepError("note_required", "verifying needs a note: the CLETS/NCIC response that confirmed it")
    if step is Step.FALSE_HIT and not note:
        raise StepError("reason_required", "a false hit needs a reason (e.g. the plate reads 8 not B)")
    starts, target = RULES[step]
    with conn.transaction():
        alert = _locked(conn, alert_id)
        state = alert["state"]
        if state == target:
            return StepResult(alert, changed=False, seq=None)
        if state not in starts:
            by = f" by {alert['state_by']}" if alert["state_by"] else ""
            hint = " (acknowledge it first)" if state == "new" else ""
            raise StepConflict("state_conflict", f"the alert is {state}{by}{hint}", alert)
        conn.execute(
            "UPDATE alerts SET state = %s, state_at = coalesce(%s, now()), state_by = %s,"
            " note = coalesce(%s, note) WHERE alert_id = %s",
            (target, now, actor, note, alert_id),
        )
        seq = append_event(conn, alert_id, target, target, actor, actor_org, note)
        enqueue(conn, webhooks, seq, alert_id, target, alert["tier"])
        fresh = get_alert(conn, alert_id)
    assert fresh is not None
    return StepResult(fresh, changed=True, seq=seq)


def set_disposition(
    conn: psycopg.Connection,
    alert_id: str,
    disposition: Disposition,
    *,
    actor: str,
    actor_org: str | None = None,
    note: str | None = None,
    webhooks: Sequence[WebhookConfig] = (),
) -> StepResult:
    """What came of a verified alert, recorded once (the same answer again is a repeat)."""
    note = _note(note)
    with conn.transaction():
        alert = _locked(conn, alert_id)
        if alert["state"] != "verified":
            raise StepConflict(
                "not_verified",
                f"only a verified alert has a disposition; this one is {alert['state']}",
                alert,
            )
        if alert["disposition"] == disposition.value:
            return StepResult(alert, changed=False, seq=None)
        if alert["disposition"] is not None:
            raise StepConflict("disposition_set", f"the disposition is already {alert['disposition']}", alert)
        conn.execute("UPDATE alerts SET disposition = %s WHERE alert_id = %s", (disposition.value, alert_id))
        seq = append_event(
            conn, alert_id, "disposition", "verified", actor, actor_org, note or disposition.value
        )
        enqueue(conn, webhooks, seq, alert_id, "disposition", alert["tier"])
        fresh = get_alert(conn, alert_id)
    assert fresh is not None
    return StepResult(fresh, changed=True, seq=seq)


def expire_stale(
    conn: psycopg.Connection,
    *,
    new_after_s: float,
    acknowledged_after_s: float,
    webhooks: Sequence[WebhookConfig] = (),
    limit: int = 500,
) -> int:
    """Expire open alerts past their time; safe with several workers running it at once (rows
    another is expiring are skipped, and each step re-checks the state under its lock)."""
    rows = conn.execute(
        "SELECT alert_id FROM alerts WHERE (state = 'new' AND raised_at < now() - make_interval(secs => %s))"
        " OR (state = 'acknowledged' AND raised_at < now() - make_interval(secs => %s))"
        " ORDER BY raised_at LIMIT %s",
        (new_after_s, acknowledged_after_s, limit),
    ).fetchall()
    expired = 0
    for (alert_id,) in rows:
        try:
            result = take_step(conn, alert_id, Step.EXPIRE, actor="system", webhooks=webhooks)
        except StepError:
            continue  # finished or gone meanwhile
        expired += result.changed
    return expired
