"""The webhook sender in the worker: queued deliveries → CAD, approved agencies (engine/alerts/webhooks.py).

Every worker runs it: claims skip each other's rows, so more workers only add senders, and a
delivery never waits for a leader election. It runs as a task beside the agents, started and
stopped with the app.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import faust

from platewatch.engine.alerts.webhooks import run_sender
from platewatch.engine.config import Settings


def register_webhook_sender(app: faust.App, settings: Settings, database_url: str) -> asyncio.Event | None:
    """Add the sender when any webhook is configured; returns the event that stops it (None: none)."""
    if not settings.webhooks:
        return None
    stop = asyncio.Event()
    hooks = list(settings.webhooks)

    async def webhook_sender() -> None:
        await run_sender(database_url, hooks, stop)

    async def on_shutdown(sender: object, **kwargs: object) -> None:
        stop.set()

    app.task(webhook_sender)
    # Faust calls receivers as (sender, *args, signal=..., **kwargs); its stubs do not say so.
    app.on_before_shutdown.connect(cast(Any, on_shutdown))
    return stop
