"""Webhook deliveries, queued in the transaction of the change they announce (an outbox).

Queuing inside that transaction is what makes delivery at-least-once: the change and its pending
deliveries commit together, and senders (`webhooks.py`) work through the table, so neither a crash
of the sender nor of the writer loses one. `msg_id` is the Standard Webhooks `webhook-id`: it is
derived from the destination and the event's offset, so every retry carries the same id and the
receiver can drop repeats.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from platewatch.engine.config.webhooks import WebhookConfig


def message_id(destination: str, seq: int) -> str:
    return f"msg_pw_{destination}_{seq}"


def wanted(hook: WebhookConfig, kind: str, tier: str) -> bool:
    """Whether `hook` takes this event: its kinds, and possible matches only when it asks for them
    (they wait for a dispatcher's look before they leave the department)."""
    if kind not in hook.events:
        return False
    return tier != "possible" or hook.include_possible


def enqueue(
    conn: psycopg.Connection,
    webhooks: Sequence[WebhookConfig],
    seq: int,
    alert_id: str,
    kind: str,
    tier: str,
) -> int:
    """Queue the event for every destination that takes it; returns how many were queued."""
    queued = 0
    for hook in webhooks:
        if not wanted(hook, kind, tier):
            continue
        conn.execute(
            "INSERT INTO webhook_deliveries (destination, event_seq, alert_id, msg_id)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (destination, event_seq) DO NOTHING",
            (hook.name, seq, alert_id, message_id(hook.name, seq)),
        )
        queued += 1
    return queued
