"""Long-running commands: the Faust worker, the API, and `up` which runs everything."""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Annotated, cast

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from platewatch.engine.commands.context import settings, state
from platewatch.engine.config import Settings
from platewatch.engine.logs import setup_logging
from platewatch.engine.policy.bootstrap import ensure_first_admin
from platewatch.engine.policy.directory import Actor
from platewatch.engine.services import ServiceError, Services
from platewatch.engine.services.restarts import Backoff, RestartsCollector
from platewatch.engine.store import migrate as run_migrations

out = Console()
log = logging.getLogger(__name__)


def worker() -> None:
    """Run a Faust worker: consumes the pw.* topics (add workers to scale out)."""
    run_worker = load_worker()
    run_worker(settings())


def load_worker() -> Callable[[Settings], None]:
    """The worker's entry point (`platewatch.worker` in pyproject.toml: agents/worker.py).

    Found by name rather than imported: the Faust wiring sits above the engine, which never
    imports it, so a deployment could also plug in another stream runtime here.
    """
    found = entry_points(group="platewatch.worker", name="faust")
    if not found:
        raise typer.BadParameter("no platewatch.worker entry point: is platewatch installed (pip install .)?")
    return cast(Callable[[Settings], None], next(iter(found)).load())


# The largest websocket message uvicorn reads; the feed closes anything over 4 KiB itself
# (engine/api/alerts.py), this keeps a client from making the server buffer 16 MiB first.
WS_MAX_MESSAGE_BYTES = 64 * 1024


def api(
    host: Annotated[str | None, typer.Option(help="Listen address (default: api.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default: api.port).")] = None,
) -> None:
    """Serve the HTTP/websocket API."""
    import uvicorn
    from prometheus_client import REGISTRY

    from platewatch.engine.api import create_api

    s = settings()
    setup_logging(s.logging.level)
    # The embedded services' restarts (counted by `up` in the data directory) on this /metrics.
    with contextlib.suppress(ValueError):  # already there: `api` ran before in this process
        REGISTRY.register(RestartsCollector(s.embedded_dir))
    # `up` hands its database and Redis over in the environment; alone, this finds (or starts) them
    with Services(s, need={"database", "redis"}) as endpoints:
        app = create_api(s, database_url=endpoints.database_url, redis_url=endpoints.redis_url)
        # What is loaded by now (the modules, the app: some 170,000 objects) lives as long as the
        # process. Frozen, a full collection no longer walks it: walking it took 140 ms on the 2-core
        # machine at load 8, longer than a burst's whole fan-out to the dispatchers (docs/dispatch.md).
        gc.collect()
        gc.freeze()
        uvicorn.run(
            app,
            host=host or s.api.host,
            port=port or s.api.port,
            log_config=None,
            ws_per_message_deflate=s.api.ws_compression,
            ws_max_size=WS_MAX_MESSAGE_BYTES,  # the feed's clients send pings; refuse megabytes unread
            timeout_graceful_shutdown=10,  # dispatchers' sockets reconnect to another instance
            # HTTPS from the API itself, or plain HTTP behind a TLS proxy (docs/operations.md)
            ssl_certfile=s.api.tls_certfile,
            ssl_keyfile=s.api.tls_keyfile,
        )


def _child(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "platewatch.engine"]
    if state.config:
        cmd += ["--config", str(state.config)]
    return subprocess.Popen([*cmd, *args], env={**os.environ, **env})


#: After the first admin: how to get someone who may see read data, for a demo.
DEMO_USER_HINT = (
    "For the demo, add a trained investigator: platewatch user add alice --name Alice --org 'Demo PD'; "
    "platewatch user grant alice investigator; platewatch user approve <grant number>; "
    "platewatch training add alice"
)


def _stop_worker_of(procs: dict[str, subprocess.Popen[bytes]], service: str) -> None:
    """A dead embedded broker: kill the worker at once, before the broker is started again. Left
    running, it rejoins the new broker's consumer group within 100 ms and may become its leader;
    killed after that (below), the fresh worker's sync waits on a leader that is gone until its
    session times out (bench pipeline --faults broker: 19.8 s of recovery instead of 14)."""
    worker = procs.get("worker")
    if service == "broker" and worker is not None and worker.poll() is None:
        worker.kill()
        worker.wait()


def _first_admin(database_url: str) -> str | None:
    """The first admin's password, made now on a database without users; None ever after."""
    with psycopg.connect(database_url, autocommit=True, prepare_threshold=None) as conn:
        return ensure_first_admin(conn, Actor.console())


def up() -> None:
    """Start everything on this machine: services (embedded where no URL is set), worker and API."""
    s = settings()
    setup_logging(s.logging.level)
    services = Services(s)
    with services as endpoints:
        report = run_migrations(endpoints.database_owner_url)
        from platewatch.engine.bench.demo import ensure_demo_camera

        demo = ensure_demo_camera(s, endpoints.database_url)  # fresh install: a camera that shows reads
        admin_password = _first_admin(endpoints.database_url)  # fresh install: someone to log in as
        env = endpoints.as_env()
        env["PLATEWATCH_SERVICES__BROKER_KIND"] = endpoints.broker_kind
        children = {"worker": ["worker"], "api": ["api"]}
        procs = {name: _child(args, env) for name, args in children.items()}
        table = Table(title="platewatch is up", show_header=False)
        scheme = "https" if s.api.tls_certfile else "http"
        table.add_row("API", f"{scheme}://{s.api.host}:{s.api.port}  (docs: /docs)")
        table.add_row("worker web", f"http://127.0.0.1:{s.kafka.web_port}/metrics")
        for name, url, origin in endpoints.describe():
            table.add_row(name, f"{url}  [{origin}]")
        table.add_row("database backend", report.backend)
        if demo:
            table.add_row("demo camera", f"{demo.url}  (platewatch camera remove demo)")
        if admin_password:
            table.add_row("admin login", f"admin / {admin_password}  (shown once; change it at first login)")
        out.print(table)
        if admin_password:
            out.print(DEMO_USER_HINT, highlight=False, soft_wrap=True)
        out.print("Press Ctrl-C to stop.")
        stopping = False

        def _stop(signum: int, _frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        backoff = {name: Backoff() for name in children}
        pending: set[str] = set()  # children that exited and wait for their backoff
        try:
            while not stopping:
                time.sleep(0.5)
                try:
                    adopted = services.adopt_orphans()
                    for name in adopted:
                        out.print(
                            f"[yellow]the platewatch that ran the embedded {name} stopped; it runs here now"
                        )
                    revived = services.revive_crashed(on_died=functools.partial(_stop_worker_of, procs))
                    for name in revived:
                        out.print(f"[yellow]the embedded {name} died; it runs again on the same address")
                    if "broker" in adopted + revived and procs["worker"].poll() is None:
                        # The restarted embedded broker is empty and the worker's consumer positions
                        # are the dead broker's: a clean stop would commit them into the empty one,
                        # and the next worker would skip that many new reads. Killed, it restarts
                        # below and declares the topics (engine/services/broker_loss.py).
                        procs["worker"].kill()
                        procs["worker"].wait()
                except ServiceError as exc:  # its port not free yet: the next round tries again
                    log.warning("could not take over an embedded service: %s", exc)
                for name, proc in list(procs.items()):
                    if stopping or proc.poll() is None:
                        continue
                    if name not in pending:
                        pending.add(name)
                        delay = backoff[name].died()
                        out.print(
                            f"[yellow]{name} exited with {proc.returncode}; restarting in {delay:.0f} s"
                        )
                    if backoff[name].due():
                        pending.discard(name)
                        backoff[name].started()
                        procs[name] = _child(children[name], env)
        finally:
            out.print("stopping…")
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for proc in procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
