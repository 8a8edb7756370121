"""`platewatch worker`: one Faust worker process, with the services it needs.

The engine's CLI finds this function through the `platewatch.worker` entry point rather than an
import, because agents/ sits above the engine: the engine never imports the Faust wiring.
"""

from __future__ import annotations

import asyncio
import logging

import faust

from platewatch.engine.config import Settings
from platewatch.engine.logs import setup_logging
from platewatch.engine.services import Services, broker_is_tansu
from platewatch.engine.store import migrate as run_migrations

from .app import create_app

log = logging.getLogger(__name__)


def run_worker(s: Settings) -> None:
    """Run until stopped: consumes the pw.* topics (add workers to scale out)."""
    setup_logging(s.logging.level)
    (s.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    # A configured Redis is not required to answer at start: reads must still be stored while it
    # is away, and the match agent parks them on pw.match-pending until the hotlist is loaded. An
    # embedded Redis (no URL) is started or joined as usual.
    need = {"broker", "database"} | (set() if s.services.redis_url else {"redis"})
    services = Services(s, need=need)
    with services as endpoints:
        run_migrations(endpoints.database_owner_url)
        wiring = create_app(
            s,
            endpoints.broker_url,
            endpoints.database_url,
            tansu=broker_is_tansu(endpoints),
            redis_url=endpoints.redis_url,
            owner_url=endpoints.database_owner_url,
        )

        def _after_takeover(name: str) -> None:
            if name != "broker":
                return
            # The embedded broker keeps nothing: it comes back without topics or offsets.
            asyncio.run_coroutine_threadsafe(wiring.declare_topics_again(), wiring.app.loop).result(60)
            log.warning("topics declared again on the restarted embedded broker (what it held is gone)")

        # Joined to a `platewatch up`'s embedded services, the worker takes them over if up stops first.
        services.adopt_in_background(on_started=_after_takeover)
        faust.Worker(
            wiring.app, loglevel=s.logging.level.lower(), override_logging=False
        ).execute_from_commandline()
