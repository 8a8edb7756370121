"""`platewatch worker`: one Faust worker process, with the services it needs.

The engine's CLI finds this function through the `platewatch.worker` entry point rather than an
import, because agents/ sits above the engine: the engine never imports the Faust wiring.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

import faust

from platewatch.engine.config import Settings
from platewatch.engine.logs import setup_logging
from platewatch.engine.services import Services, broker_is_tansu
from platewatch.engine.services.broker_loss import (
    EXIT_BROKER_LOST,
    LOST_SHUTDOWN_DEADLINE_S,
    SHUTDOWN_DEADLINE_S,
    CommitFailureWatch,
    ShutdownDeadline,
)
from platewatch.engine.services.group_member import claim_member_slot
from platewatch.engine.store import migrate as run_migrations

from .app import create_app

log = logging.getLogger(__name__)


class BrokerLoss:
    """What the worker does when its broker lost its topics and offsets: one error, then a stop
    (engine/services/broker_loss.py says why a fresh process and not a repair)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._lock = threading.Lock()
        self.deadline = ShutdownDeadline(lambda: EXIT_BROKER_LOST if self.reason else 1)

    def lost(self, reason: str) -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
        log.error(
            "the Kafka broker lost this worker's topics and consumer offsets (%s); stopping with exit "
            "status %d so that a fresh worker starts from clean positions (platewatch up, compose's "
            "restart policy or systemd starts it)",
            reason,
            EXIT_BROKER_LOST,
        )
        self.deadline.start(LOST_SHUTDOWN_DEADLINE_S, "the broker losing its state")
        os.kill(os.getpid(), signal.SIGTERM)  # the same stop as an operator's


class _Worker(faust.Worker):  # type: ignore[misc]  # faust is untyped
    """Faust's worker, whose stop ends the process within `SHUTDOWN_DEADLINE_S` whatever it waits on."""

    def __init__(self, app: faust.App, deadline: ShutdownDeadline, **options: Any) -> None:
        super().__init__(app, **options)
        self._deadline = deadline

    async def stop(self) -> None:
        self._deadline.start(SHUTDOWN_DEADLINE_S, "being asked to stop")
        await super().stop()


def run_worker(s: Settings) -> None:
    """Run until stopped: consumes the pw.* topics (add workers to scale out)."""
    setup_logging(s.logging.level)
    (s.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    # A configured Redis is not required to answer at start: reads must still be stored while it
    # is away, and the match agent parks them on pw.match-pending until the hotlist is loaded. An
    # embedded Redis (no URL) is started or joined as usual.
    need = {"broker", "database"} | (set() if s.services.redis_url else {"redis"})
    services = Services(s, need=need)
    loss = BrokerLoss()
    with services as endpoints:
        run_migrations(endpoints.database_owner_url)
        # Not on tansu: a restarted static member that is not the group's leader is never handed its
        # partitions there (its sync waits for a leader that is not rebalancing; bench --faults
        # worker: no recovery in 120 s), so its cameras stayed blind.
        static = s.kafka.static_membership and not broker_is_tansu(endpoints)
        slot = claim_member_slot(s.data_dir, s.kafka.app_id) if static else None
        wiring = create_app(
            s,
            endpoints.broker_url,
            endpoints.database_url,
            tansu=broker_is_tansu(endpoints),
            redis_url=endpoints.redis_url,
            owner_url=endpoints.database_owner_url,
            group_instance_id=slot.instance_id if slot else None,
            on_broker_lost=loss.lost,
        )
        CommitFailureWatch(loss.lost).install()

        def _after_takeover(name: str) -> None:
            if name == "broker":  # started again here, empty: what this worker holds is gone
                loss.lost("the embedded broker this worker took over came back empty")

        # Joined to a `platewatch up`'s embedded services, the worker takes them over if up stops first.
        services.adopt_in_background(on_started=_after_takeover)
        worker = _Worker(wiring.app, loss.deadline, loglevel=s.logging.level.lower(), override_logging=False)
        try:
            worker.execute_from_commandline()
        except SystemExit:
            if loss.reason is not None:
                raise SystemExit(EXIT_BROKER_LOST) from None
            raise
