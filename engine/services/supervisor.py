"""`Services`: use the configured services, start embedded ones for the rest, and stop what we started.

A user's clone runs `platewatch up` and its tests with nothing installed by hand; production points the
URLs at real servers and nothing is started. Both go through here, so both are tested the same way.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import urlsplit

from platewatch.engine.config import Settings
from platewatch.engine.redaction import redact_url

from . import credentials, owner_note, postgres, redis_server
from .broker import check_broker, start_embedded_broker
from .embedded import Embedded
from .endpoints import Endpoints
from .errors import ServiceError
from .postgres import check_database, start_embedded_postgres
from .redis_server import check_redis, start_embedded_redis
from .restarts import Backoff, RestartLog
from .urls import normalise_broker_url, without_userinfo

log = logging.getLogger("platewatch.services")

# A configured service is checked once and must answer promptly: it is either there or misconfigured,
# and an operator should hear which at once, not after the embedded start timeout.
CONFIGURED_CHECK_TIMEOUT_S = 5.0
SERVICE_NAMES = ("broker", "redis", "database")

_Starter = Callable[[Path, str, int, float], Embedded]
_STARTERS: dict[str, _Starter] = {
    "broker": start_embedded_broker,
    "redis": start_embedded_redis,
    "database": start_embedded_postgres,
}


class Services:
    """Context manager: `with Services(settings) as endpoints:`.

    Embedded services run as children in `settings.embedded_dir` and are stopped on leaving the block,
    at interpreter exit, on SIGTERM (turned into SystemExit when nobody else handles it) and on Ctrl-C
    (KeyboardInterrupt unwinds the block). If this process is SIGKILLed the kernel stops them.
    Start it from the main thread (see `process.py` on why the starting thread matters).

    `need` limits which services are checked or started (`platewatch migrate` needs only the database);
    the others keep their configured URL, or an empty one and origin None.
    """

    def __init__(
        self, settings: Settings, *, need: Collection[str] | None = None, handle_sigterm: bool = True
    ) -> None:
        unknown = set(need or ()) - set(SERVICE_NAMES)
        if unknown:
            raise ValueError(f"unknown services {sorted(unknown)}; choose from {', '.join(SERVICE_NAMES)}")
        self.settings = settings
        self.need = frozenset(SERVICE_NAMES if need is None else need)
        self.handle_sigterm = handle_sigterm
        self._embedded: dict[str, Embedded] = {}
        #: embedded services another platewatch owns that this one joined: name → URL
        self._joined: dict[str, str] = {}
        self._endpoints: Endpoints | None = None
        self._lock = threading.RLock()
        self._previous_sigterm: Any = None
        #: embedded services found dead and not started again yet: name → exit status
        self._down: dict[str, int | None] = {}
        self._backoff: dict[str, Backoff] = {}
        self.restart_log = RestartLog(settings.embedded_dir)

    @property
    def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            raise RuntimeError("Services are not started")
        return self._endpoints

    @property
    def embedded(self) -> dict[str, Embedded]:
        """The embedded services now running, by name: `broker`, `redis`, `database`."""
        return dict(self._embedded)

    def pids(self) -> dict[str, int]:
        return {name: e.pid for name, e in self._embedded.items()}

    def start(self) -> Endpoints:
        with self._lock:
            if self._endpoints is None:
                self._private_data_dir()
                # Configured services first: a wrong URL fails in milliseconds, before anything starts.
                fields = self._check_configured()
                try:
                    fields |= self._start_embedded()
                except BaseException:
                    self._stop_embedded()
                    raise
                atexit.register(self.stop)
                self._install_sigterm()
                self._endpoints = Endpoints(**fields)
            return self._endpoints

    def _private_data_dir(self) -> None:
        """The data directory (plate images, the services' data, secrets) is its owner's alone.

        Made 0700, or tightened to it with a log line; as root, others keep the search bit on the
        directories above the embedded PostgreSQL's cluster, whose server user must pass through.
        """
        passable = os.geteuid() == 0
        data_dir = self.settings.data_dir.expanduser().absolute()
        embedded_dir = self.settings.embedded_dir.expanduser().absolute()
        cfg = self.settings.services
        if not (cfg.broker_url and cfg.redis_url and cfg.database_url):
            made = credentials.PRIVATE_DIR | (0o001 if passable else 0)
            data_dir.mkdir(mode=made, parents=True, exist_ok=True)
            embedded_dir.mkdir(mode=made, exist_ok=True)
        credentials.tighten(data_dir, passable=passable)
        credentials.tighten(embedded_dir, passable=passable)

    def _check_configured(self) -> dict[str, Any]:
        """Endpoints fields of the configured services; those not needed are passed on unchecked."""
        cfg = self.settings.services
        timeout = min(cfg.start_timeout_s, CONFIGURED_CHECK_TIMEOUT_S)
        fields: dict[str, Any] = {
            f"{name}_{key}": None for name in SERVICE_NAMES for key in ("origin", "version")
        }
        fields |= {
            "broker_url": cfg.broker_url or "",
            "redis_url": cfg.redis_url or "",
            "database_url": cfg.database_url or "",
            "broker_kind": "kafka" if cfg.broker_kind == "auto" else cfg.broker_kind,
        }
        fields |= {f"{name}_origin": "configured" for name in SERVICE_NAMES if fields[f"{name}_url"]}
        if cfg.broker_url and "broker" in self.need:
            broker = check_broker(cfg.broker_url, timeout, setting="services.broker_url")
            fields["broker_url"] = normalise_broker_url(cfg.broker_url)
            fields["broker_version"] = broker.description
            if cfg.broker_kind == "auto":
                fields["broker_kind"] = "tansu" if broker.is_tansu else "kafka"
        if cfg.redis_url and "redis" in self.need:
            redis_info = check_redis(cfg.redis_url, timeout, setting="services.redis_url")
            fields["redis_version"] = f"Redis {redis_info.version}"
        if cfg.database_url and "database" in self.need:
            db = check_database(cfg.database_url, timeout, setting="services.database_url")
            fields["database_version"] = db.version
        if cfg.database_url:
            # A worker or API that `platewatch up` started: handed the application role's URL of the
            # embedded database, it migrates and runs the upkeep as the owner, whose password is here.
            fields["database_owner_url"] = postgres.owner_url_for(
                self.settings.embedded_dir, cfg.database_url
            )
            fields["database_owner_url"] = fields["database_owner_url"] or cfg.database_url
        return fields

    def _start_embedded(self) -> dict[str, Any]:
        """Endpoints fields of the embedded services, started one after the other."""
        cfg = self.settings.services
        host = "127.0.0.1" if cfg.embedded_host == "localhost" else cfg.embedded_host
        wanted: list[tuple[str, int, str | None]] = [
            ("broker", cfg.embedded_broker_port, cfg.broker_url),
            ("redis", cfg.embedded_redis_port, cfg.redis_url),
            ("database", cfg.embedded_postgres_port, cfg.database_url),
        ]
        fields: dict[str, Any] = {}
        joinable = owner_note.running(self.settings.embedded_dir)
        for name, port, url in wanted:
            if url or name not in self.need:
                continue
            joined = self._join(name, joinable.get(name))
            if joined:
                fields |= joined
                self._joined[name] = joined[f"{name}_url"]
                continue
            service = _STARTERS[name](self.settings.embedded_dir, host, port, cfg.start_timeout_s)
            self._embedded[name] = service
            self._backoff[name] = Backoff()
            log.info(
                "embedded %s (%s) answers at %s after %.0f ms",
                name,
                service.version,
                redact_url(service.url),
                service.startup_s * 1000,
            )
            fields |= {
                f"{name}_url": service.url,
                f"{name}_origin": "embedded",
                f"{name}_version": service.version,
            }
            if name == "database":
                fields["database_owner_url"] = service.owner_url
            if name == "broker":
                fields["broker_kind"] = "tansu"  # whatever broker_kind says: that is what runs
        if self._embedded:
            self._publish()
        return fields

    def adopt_orphans(self, on_started: Callable[[str], None] | None = None) -> list[str]:
        """Start again, here, the joined services whose owner has stopped; returns their names.

        A second `platewatch up` (a restart overlapping the old one's shutdown, say) joins the
        embedded services the first one started; when the first one stops, it stops them, and
        everything still running on them would retry for ever. They are started again on the same
        address and data directory, so clients that retry (the worker, the API) carry on with the
        same data and configuration. `on_started(name)` runs as soon as that one answers, before the
        next is started: the broker comes first and is empty, and its topics are best declared again
        before the clients reconnecting to it name them (tansu creates a topic it is asked about
        with its own partition count).
        """
        with self._lock:
            if not self._joined or self._endpoints is None:
                return []
            still_owned = owner_note.running(self.settings.embedded_dir)
            adopted = []
            try:
                for name, url in list(self._joined.items()):
                    if name in still_owned:
                        continue
                    address = urlsplit(url)
                    host, port = address.hostname or "127.0.0.1", address.port or 0
                    timeout = self.settings.services.start_timeout_s
                    self._embedded[name] = _STARTERS[name](self.settings.embedded_dir, host, port, timeout)
                    self._backoff[name] = Backoff()
                    del self._joined[name]
                    adopted.append(name)
                    log.warning(
                        "the platewatch owning the embedded %s stopped; started it again at %s",
                        name,
                        redact_url(url),
                    )
                    if on_started is not None:
                        on_started(name)
            finally:
                if adopted:
                    self._publish()
            return adopted

    def revive_crashed(
        self,
        on_started: Callable[[str], None] | None = None,
        on_died: Callable[[str], None] | None = None,
    ) -> list[str]:
        """Start again the embedded services this process started and that have died; returns their names.

        Each comes back on the same address and data directory (Redis's append-only file, the
        PostgreSQL cluster after its crash recovery), so clients that retry carry on with their data.
        The first restart is immediate; one that keeps dying waits longer each time (`Backoff`), and
        a start that fails is tried again on a later call. Each restart is logged and counted in
        `restart_log` (`platewatch doctor`, the API's /metrics). `on_started(name)` runs as soon as
        that one answers: the broker keeps its topics in memory and comes back empty. `on_died(name)`
        runs once per death, as soon as it is noticed and before the restart: a worker of a dead
        in-memory broker is best stopped before the new one answers, or it rejoins the new broker's
        consumer group and, killed then, leaves a leader there that never assigns partitions.
        """
        with self._lock:
            if self._endpoints is None:
                return []
            revived: list[str] = []
            try:
                for name, service in list(self._embedded.items()):
                    if service.process.running():
                        continue
                    backoff = self._backoff.setdefault(name, Backoff())
                    if name not in self._down:
                        self._down[name] = status = service.process.exit_status()
                        delay = backoff.died()
                        log.warning(
                            "embedded %s (pid %d) died (%s); starting it again at %s%s",
                            name,
                            service.pid,
                            _describe_status(status),
                            redact_url(service.url),
                            f" in {delay:.0f} s" if delay else "",
                        )
                        if on_died is not None:
                            on_died(name)
                    if not backoff.due():
                        continue
                    service.process.stop()  # reap it and close its log before the new one opens it
                    revived_service = self._start_again(name, service.url, backoff)
                    if revived_service is None:
                        continue
                    self._embedded[name] = revived_service
                    entry = self.restart_log.record(name, self._down.pop(name))
                    revived.append(name)
                    log.warning(
                        "embedded %s answers again at %s after %.0f ms (restart %d)",
                        name,
                        redact_url(revived_service.url),
                        revived_service.startup_s * 1000,
                        entry.count,
                    )
                    if on_started is not None:
                        on_started(name)
            finally:
                if revived:
                    self._publish()
            return revived

    def _start_again(self, name: str, url: str, backoff: Backoff) -> Embedded | None:
        address = urlsplit(url)
        host, port = address.hostname or "127.0.0.1", address.port or 0
        try:
            service = _STARTERS[name](
                self.settings.embedded_dir, host, port, self.settings.services.start_timeout_s
            )
        except ServiceError as exc:
            delay = backoff.died()
            log.warning("embedded %s did not start again (%s); next try in %.0f s", name, exc, delay)
            return None
        backoff.started()
        return service

    def adopt_in_background(
        self, every_s: float = 1.0, on_started: Callable[[str], None] | None = None
    ) -> threading.Thread:
        """Call `adopt_orphans` and `revive_crashed` every `every_s` seconds from a daemon thread, for a
        process whose main thread is busy elsewhere (a Faust worker's event loop); `up` polls from its
        own main loop.

        Why the thread never returns: an embedded server gets its parent-death signal when the
        *thread* that started it exits (`process.py`), so a thread that starts servers must live as
        long as the process. After `stop()` it only waits; errors (a port not free yet) are logged and
        tried again on the next round. `on_started` gets each name taken over as soon as it answers
        (a restarted embedded broker is empty: the caller declares its topics again); an error there is
        logged and the other services are still taken over.
        """

        def _started(name: str) -> None:
            if on_started is None:
                return
            try:
                on_started(name)
            except Exception:
                log.exception("after taking over the embedded %s, what follows it failed", name)

        def _run() -> None:
            while True:
                time.sleep(every_s)
                if self._endpoints is None:
                    continue
                try:
                    adopted = self.adopt_orphans(on_started=_started)
                    for name in adopted:
                        log.warning("embedded %s runs in this process now (pid %d)", name, os.getpid())
                    self.revive_crashed(on_started=_started)
                except ServiceError as exc:
                    log.warning("could not take over an embedded service yet: %s", exc)
                except Exception:  # a crash here would end the thread, and with it the servers
                    log.exception("taking over the embedded services failed")

        thread = threading.Thread(target=_run, name="adopt-embedded-services", daemon=True)
        thread.start()
        return thread

    def _publish(self) -> None:
        """Tell later platewatch commands which embedded services this process owns."""
        owner_note.publish(
            self.settings.embedded_dir,
            {n: {"url": without_userinfo(e.url), "version": e.version} for n, e in self._embedded.items()},
        )

    def _join(self, name: str, note: dict[str, Any] | None) -> dict[str, Any]:
        """Endpoints fields of an embedded service another live platewatch owns, if it answers."""
        if not note or not isinstance(note.get("url"), str):
            return {}
        address = without_userinfo(note["url"])
        url, owner_url = address, ""
        directory = self.settings.embedded_dir
        if name == "redis":
            url = redis_server.embedded_url(directory, address) or ""
        elif name == "database":
            url, owner_url = postgres.embedded_urls(directory, address) or ("", "")
        if not url:
            return {}  # its passwords are not here: start our own
        checks = {"broker": check_broker, "redis": check_redis, "database": check_database}
        try:
            checks[name](owner_url or url, CONFIGURED_CHECK_TIMEOUT_S)
        except ServiceError:
            return {}
        log.info("joined the embedded %s at %s owned by a running platewatch", name, address)
        fields = {
            f"{name}_url": url,
            f"{name}_origin": "embedded",
            f"{name}_version": note.get("version"),
        }
        if name == "database":
            fields["database_owner_url"] = owner_url
        if name == "broker":
            fields["broker_kind"] = "tansu"
        return fields

    def stop(self) -> None:
        """Stop the embedded services, newest first; safe to call twice and from atexit."""
        with self._lock:
            atexit.unregister(self.stop)
            self._restore_sigterm()
            self._stop_embedded()
            self._joined.clear()  # a later start() joins or starts afresh
            self._down.clear()
            self._endpoints = None

    def _stop_embedded(self) -> None:
        if self._embedded:
            owner_note.withdraw(self.settings.embedded_dir)
        for name in reversed(list(self._embedded)):
            service = self._embedded.pop(name)
            try:
                service.stop()
            except Exception:
                log.exception("stopping embedded %s failed", name)
            else:
                log.info("embedded %s stopped", name)

    def _install_sigterm(self) -> None:
        # Only where nobody else handles SIGTERM: Faust, uvicorn or the caller's own loop know better.
        if not self.handle_sigterm or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_to_exit)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is None or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is _sigterm_to_exit:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        self._previous_sigterm = None

    def __enter__(self) -> Endpoints:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _describe_status(status: int | None) -> str:
    if status is None:
        return "exit status unknown"
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


def _sigterm_to_exit(signum: int, frame: FrameType | None) -> None:
    """Unwind like Ctrl-C does, so `with` blocks and atexit stop the embedded services in order."""
    raise SystemExit(128 + signum)
