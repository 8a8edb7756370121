"""`platewatch bench dispatch`: alerts fanned out to many dispatchers' websockets (issue 21's targets).

In a scratch database the bench makes, migrates and drops, a trained dispatcher (TOTP enrolled, as
a site makes one) logs in once over HTTP; `clients` websocket clients (the `websockets` library)
open `/api/v1/alerts/ws` with that bearer token, spread over `instances` real `platewatch api`
processes (bench audit's). The clients live in `client_processes` processes (default one per CPU),
each one asyncio loop: dispatchers' screens are browsers on their own machines, and one Python loop
decoding 200 clients' messages was itself the slowest part of the path it measured (at 200 alerts a
second, every burst queued behind 200 decodes in one loop), so it is spread out as the real clients
are; they decode each message whole with orjson, as a browser's JSON.parse would. On a small
machine they still share its cores with the API (`client_cpu_s` says how much). Then a separate
process raises `alerts` alerts with `records.store_alerts`, the dispatch agent's call, in batches
of `batch` at `rate` alerts a second, so a batch's commit is the moment the stream starts for all.

When a third of the alerts are raised, a tenth of the clients close their sockets and come back
`away_s` later, with the last offset and epoch they saw, to the other instance: what they missed
must arrive by replay. A client cut off by the server (4408) comes back the same way.

- `lost`: (client, alert) pairs whose `raised` event never reached the client by the end;
  `duplicated`: `raised` events a client received for an alert it had already received (counted as
  received, before any de-duplication); `delivered`: the pairs received at least once.
- `fanout_p50_ms` / `fanout_p95_ms`: a live `raised` event's arrival at a client less the moment
  its batch's COMMIT was sent, both on this machine's clock. Arrival is when the client's loop read
  the frame off its socket (`_Stamped`), not when that client's task next ran and decoded it: with
  a hundred clients in one Python process, a frame otherwise waited for the other ninety-nine
  clients' tasks and decodes, a queue a dispatcher's browser on its own machine does not have. The
  old measure is kept beside it as `decoded_p50_ms` / `decoded_p95_ms`. The commit's own WAL flush
  is in both; events that came by replay are not (they waited for the client).
  `raised_p95_ms` counts from just before the store call instead (the store's transaction in it).
- `replayed`: events received between a reconnecting client's hello and its `replayed` message;
  `reconnected`, `recovered` (reconnections answered `recovered: true`), `cut_off` (server closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, cast

import httpx
import orjson
import psycopg
import pyotp
from cryptography.fernet import Fernet
from rich.console import Console

from platewatch.codecs import Alert, Read
from platewatch.engine.alerts import records
from platewatch.engine.config.access import AccessConfig
from platewatch.engine.policy import accounts, mfa, training
from platewatch.engine.policy.directory import Actor, get_user
from platewatch.engine.policy.roles import Role
from platewatch.engine.store.copy_writer import is_pglite
from platewatch.engine.store.migrate import migrate

from .audit import (
    ORGANISATION,
    BenchError,
    Instance,
    _bins,
    _department,
    _instances,
    _progress,
    latency_chart,
    percentile,
)
from .audit import (
    _round as ms,
)
from .report import figures_table, page, write_json
from .store import _scratch_database

log = logging.getLogger(__name__)

TARGET_FANOUT_P95_MS = 50.0
DISPATCHER = "bench-dispatcher"
_URL_VAR = "PLATEWATCH_BENCH_RAISER_URL"
_TOKEN_VAR = "PLATEWATCH_BENCH_TOKEN"
#: What the console table shows, in order (the JSON has every figure).
KEYS = (
    "clients",
    "alerts",
    "instances",
    "delivered",
    "lost",
    "duplicated",
    "fanout_p50_ms",
    "fanout_p95_ms",
    "decoded_p95_ms",
    "raised_p95_ms",
    "replayed",
    "reconnected",
    "recovered",
    "cut_off",
    "rate_per_s",
    "store_p95_ms",
)


# --- the raiser (its own process: the clients' loop must not hold up a commit, nor it theirs) -----


@dataclass(frozen=True)
class Batch:
    ids: tuple[str, ...]
    raised_at: float  # just before the store call (each alert's raised_at)
    commit_at: float  # just before COMMIT was sent
    committed_at: float  # when the COMMIT returned


def _alerts(n: int, at: float, crop: bytes) -> list[Alert]:
    out = []
    for _ in range(n):
        plate = f"{secrets.randbelow(10)}BNC{secrets.randbelow(1000):03d}"
        read = Read(
            read_id=str(uuid.uuid4()),
            camera_id="bench-cam",
            time=at - 0.05,
            plate=plate,
            confidence=0.95,
            pass_id=str(uuid.uuid4()),
            crop_jpeg=crop,
        )
        out.append(
            Alert(
                alert_id=str(uuid.uuid4()),
                read=read,
                hotlist="stolen",
                entry=plate,
                match_kind="exact",
                score=1.0,
                priority=1,
                reason="stolen vehicle",
                case_number="24-001234",
                time=at,
                extra={"entry_key": f"stolen:{plate}", "candidate": plate, "list_imported_at": str(at - 600)},
                evidence=0.99,
            )
        )
    return out


def raise_alerts(url: str, count: int, rate: float, batch: int, out: TextIO) -> None:
    """`count` alerts in batches of `batch`, paced to `rate` a second; a JSON line per `Batch`."""
    crop = os.urandom(4000)  # a plate crop's size; it is stored, not sent on the feed
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        n = 0
        while n < count:
            due = started + n / rate
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            size = min(batch, count - n)
            at = time.time()
            alerts = _alerts(size, at, crop)
            with conn.transaction():  # store_alerts's own becomes a savepoint: the commit is ours to time
                records.store_alerts(conn, alerts)
                commit_at = time.time()
            done = Batch(tuple(a.alert_id for a in alerts), at, commit_at, time.time())
            out.write(json.dumps([done.ids, done.raised_at, done.commit_at, done.committed_at]) + "\n")
            out.flush()
            n += size


def raiser_main() -> None:
    """The raiser process's entry (`python -c`): the database URL in the environment, not argv."""
    count, rate, batch = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    raise_alerts(os.environ[_URL_VAR], count, rate, batch, sys.stdout)


async def _raiser(url: str, count: int, rate: float, batch: int) -> asyncio.subprocess.Process:
    code = "from platewatch.engine.bench.dispatch import raiser_main; raiser_main()"
    env = {**os.environ, _URL_VAR: url}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        str(count),
        str(rate),
        str(batch),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


# --- the clients ----------------------------------------------------------------------------------


def _stamped_connection() -> type[Any]:
    """A websockets client connection that notes when each data frame was read off the socket.

    `data_received` runs as soon as the loop reads the socket; the message reaches the client's
    own task only when that task is next scheduled, behind every other client of the process. The
    stamps are in frame order, as `recv` returns the messages (the feed never fragments one)."""
    from websockets.asyncio.client import ClientConnection
    from websockets.frames import DATA_OPCODES, Frame

    class Stamped(ClientConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.stamps: deque[float] = deque()
            self._read_at = 0.0

        def data_received(self, data: bytes) -> None:
            self._read_at = time.time()
            super().data_received(data)

        def process_event(self, event: Any) -> None:
            if isinstance(event, Frame) and event.opcode in DATA_OPCODES:
                self.stamps.append(self._read_at)
            super().process_event(event)

    return Stamped


@dataclass
class Client:
    n: int
    home: int  # the instance it first connects to
    # (alert id, read off the socket, decoded by the client's task), live events only
    received: list[tuple[str, float, float]] = field(default_factory=list)
    replayed: list[str] = field(default_factory=list)
    offset: int | None = None
    epoch: str | None = None
    ws: Any = None
    dropping: bool = False
    reconnected: int = 0
    recovered: int = 0
    cut_off: int = 0
    distinct: set[str] = field(default_factory=set)
    closes: list[str] = field(default_factory=list)


@dataclass
class Feed:
    urls: list[str]
    token: str
    wanted: set[str] = field(default_factory=set)  # filled as the raiser reports (unused until then)
    total: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    away_s: float = 1.0
    compression: str | None = "deflate"  # what browsers offer; None: uncompressed frames

    def url(self, instance: int, client: Client) -> str:
        base = self.urls[instance % len(self.urls)].replace("http://", "ws://") + "/api/v1/alerts/ws"
        if client.offset is not None and client.epoch is not None:
            return f"{base}?offset={client.offset}&epoch={client.epoch}"
        return base


async def _client(feed: Feed, c: Client, ready: asyncio.Event) -> None:
    import websockets

    instance = c.home
    headers = {"Authorization": f"Bearer {feed.token}"}
    stamped = _stamped_connection()
    while not feed.stop.is_set():
        again = c.offset is not None
        try:
            async with websockets.connect(
                feed.url(instance, c),
                additional_headers=headers,
                compression=feed.compression,
                create_connection=stamped,
            ) as ws:
                c.ws = ws
                stamps = cast("deque[float]", ws.stamps)  # type: ignore[attr-defined]  # _stamped_connection
                hello = json.loads(await ws.recv())
                stamps.popleft()
                if hello.get("type") != "hello":
                    raise BenchError(f"the feed refused the dispatcher: {hello}")
                c.epoch = str(hello["epoch"])
                if again:
                    c.reconnected += 1
                    c.recovered += bool(hello["recovered"])
                else:
                    c.offset = int(hello["offset"])
                    ready.set()
                replaying = again and bool(hello["recovered"])
                async for raw in ws:
                    read_at = stamps.popleft()
                    msg = orjson.loads(raw)  # as a browser's JSON.parse: C, not Python's json
                    now = time.time()
                    kind = msg.get("type")
                    events = msg["events"] if kind == "batch" else [msg] if kind == "event" else []
                    for event in events:
                        c.offset = int(event["offset"])
                        if event["kind"] == "raised":
                            aid = event["alert"]["alert_id"]
                            (c.replayed.append(aid) if replaying else c.received.append((aid, read_at, now)))
                            c.distinct.add(aid)
                    if events and feed.total and len(c.distinct) >= feed.total:
                        return  # every alert is here (the extra ids of a warm-up too)
                    if kind == "replayed":
                        replaying = False
        except BenchError:
            raise
        except Exception as exc:  # closed by the server, or the network; a refused handshake is fatal
            if type(exc).__name__ == "InvalidStatus":
                raise BenchError(f"the feed refused the connection: {exc}") from exc
            c.closes.append(f"{type(exc).__name__}: {exc}"[:120])
        finally:
            c.ws = None
        if not c.dropping and not feed.stop.is_set():
            c.cut_off += 1  # the server ended it: come back like a dispatcher's page does
        if c.dropping:
            await asyncio.sleep(feed.away_s)
            c.dropping = False
            instance += 1  # come back to the other instance: the replay must not depend on which
        elif not feed.stop.is_set():
            await asyncio.sleep(0.2)


async def _drop(clients: Sequence[Client]) -> None:
    for c in clients:
        c.dropping = True
    await asyncio.gather(*(c.ws.close() for c in clients if c.ws is not None))


# --- a client process (several: one Python loop cannot decode 40,000 events a second in time) ----


def _command(line: str) -> dict[str, Any]:
    return dict(json.loads(line)) if line.strip() else {"finish": 0.0}  # EOF: the parent went


async def _serve_clients(setup: dict[str, Any], token: str, commands: TextIO, out: TextIO) -> None:
    """Connect this process's share of the clients, then obey the parent's commands (`total`,
    `drop`, `finish`) from `commands`; the figures go to the file named in `setup`."""
    feed = Feed(list(setup["urls"]), token, away_s=float(setup["away_s"]), compression=setup["compression"])
    people = {n: Client(n, home) for n, home in setup["clients"]}
    readies = {n: asyncio.Event() for n in people}
    tasks = [asyncio.create_task(_client(feed, c, readies[c.n])) for c in people.values()]
    try:
        deadline = time.monotonic() + 60
        while not all(r.is_set() for r in readies.values()):
            for t in tasks:
                if t.done():
                    t.result()  # a client that ended before it connected: its error
                    raise BenchError("a client ended before it connected")
            if time.monotonic() > deadline:
                raise BenchError("the clients did not all connect within 60 s")
            await asyncio.sleep(0.05)
        out.write('{"ready": true}\n')
        out.flush()
        while True:
            command = _command(await asyncio.to_thread(commands.readline))
            if "total" in command:
                feed.total = int(command["total"])
            if "drop" in command:
                await _drop([people[n] for n in command["drop"] if n in people])
            if "finish" in command:
                _, pending = await asyncio.wait(tasks, timeout=float(command["finish"]))
                break
        feed.stop.set()
        for t in pending:
            t.cancel()
        for t in tasks:
            if t.done() and not t.cancelled() and t.exception() is not None:
                raise BenchError(f"a client failed: {t.exception()}")
    finally:
        feed.stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    result = {
        "cpu_s": time.process_time(),
        "clients": [
            {
                "n": c.n,
                "home": c.home,
                "received": c.received,
                "replayed": c.replayed,
                "reconnected": c.reconnected,
                "recovered": c.recovered,
                "cut_off": c.cut_off,
                "closes": c.closes,
            }
            for c in people.values()
        ],
    }
    Path(setup["result"]).write_text(json.dumps(result), encoding="utf-8")


def clients_main() -> None:
    """A client process's entry (`python -c`): its setup on the first line of stdin, the bearer
    token in the environment (neither in argv, which `ps` shows)."""
    setup = json.loads(sys.stdin.readline())
    try:
        asyncio.run(_serve_clients(setup, os.environ[_TOKEN_VAR], sys.stdin, sys.stdout))
    except BenchError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)


@dataclass
class _ClientProcess:
    proc: asyncio.subprocess.Process
    result: Path
    clients: list[int]

    async def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(command) + "\n").encode())
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            await self.proc.wait()
            raise BenchError(
                f"a client process failed ({self.proc.returncode}):\n{await self.failure()}"
            ) from None

    async def failure(self) -> str:
        assert self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode(errors="replace")[-2000:]


async def _client_processes(
    feed: Feed, clients: Sequence[Client], processes: int, work_dir: Path
) -> list[_ClientProcess]:
    code = "from platewatch.engine.bench.dispatch import clients_main; clients_main()"
    env = {**os.environ, _TOKEN_VAR: feed.token}
    started = []
    for k in range(processes):
        share = [c for c in clients if c.n % processes == k]
        if not share:
            continue
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        cp = _ClientProcess(proc, work_dir / f"clients-{k}.json", [c.n for c in share])
        started.append(cp)
        setup = {
            "urls": feed.urls,
            "clients": [[c.n, c.home] for c in share],
            "away_s": feed.away_s,
            "compression": feed.compression,
            "result": str(cp.result),
        }
        await cp.send(setup)
    return started


async def _ready(cp: _ClientProcess) -> None:
    assert cp.proc.stdout is not None
    line = await cp.proc.stdout.readline()
    if not line.startswith(b'{"ready"'):
        await cp.proc.wait()
        raise BenchError(f"a client process failed ({cp.proc.returncode}):\n{await cp.failure()}")


# --- the run --------------------------------------------------------------------------------------


def _dispatcher(conn: psycopg.Connection, cfg: AccessConfig, key: bytes, password: str) -> pyotp.TOTP:
    """A trained dispatcher with TOTP, approved by bench audit's supervisor."""
    _department(conn, cfg, key, password, 0, lambda: None)
    operator = Actor.console("bench")
    supervisor = get_user(conn, "bench-supervisor").as_actor("127.0.0.1")
    accounts.create_user(
        conn,
        operator,
        username=DISPATCHER,
        display_name="Bench Dispatcher",
        organisation=ORGANISATION,
        password=password,
        must_change_password=False,
    )
    grant = accounts.request_role(conn, operator, DISPATCHER, Role.DISPATCHER)
    if grant.status == "pending":
        accounts.approve_grant(conn, cfg, supervisor, grant.grant_id)
    training.record_training(
        conn, cfg, supervisor, DISPATCHER, cfg.training_courses[0], datetime.now(UTC) - timedelta(days=1)
    )
    actor = get_user(conn, DISPATCHER).as_actor("127.0.0.1")
    enrolled_at = datetime.now(UTC) - timedelta(minutes=2)
    totp = pyotp.TOTP(mfa.begin_enrolment(conn, key, actor).secret)
    mfa.confirm_enrolment(conn, key, actor, totp.at(enrolled_at), now=enrolled_at)
    return totp


def _cpu_s(servers: Sequence[Instance]) -> float:
    """User + system CPU seconds of the instances' processes so far (Linux /proc; -1 elsewhere)."""
    total = 0.0
    try:
        for inst in servers:
            fields = Path(f"/proc/{inst.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return -1.0
    return total


def _login(url: str, password: str, totp: pyotp.TOTP) -> str:
    body = {"username": DISPATCHER, "password": password, "totp": totp.now(), "client": "cli"}
    r = httpx.post(url + "/api/v1/auth/login", json=body, timeout=60)
    if r.status_code != 200:
        raise BenchError(f"the dispatcher's login was refused ({r.status_code}): {r.text[:300]}")
    return str(r.json()["token"])


async def _run_clients(
    feed: Feed,
    clients: list[Client],
    count: int,
    raise_url: str,
    rate: float,
    batch: int,
    drain_s: float,
    processes: int,
    work_dir: Path,
) -> tuple[list[Batch], float]:
    """Connect every client (in `processes` processes), raise the alerts, drop and bring back a
    tenth mid-run, wait for the rest; the clients' figures are filled in, and their CPU seconds
    returned beside the batches."""
    procs: list[_ClientProcess] = []
    raiser: asyncio.subprocess.Process | None = None
    try:
        procs = await _client_processes(feed, clients, processes, work_dir)
        await asyncio.gather(*(_ready(cp) for cp in procs))
        for cp in procs:
            await cp.send({"total": count})
        raiser = await _raiser(raise_url, count, rate, batch)
        assert raiser.stdout is not None and raiser.stderr is not None
        errors = asyncio.create_task(raiser.stderr.read())
        k = max(1, len(clients) // 10)
        droppers = {c.n for c in clients[:: max(1, len(clients) // k)][:k]}
        dropped = False
        batches: list[Batch] = []
        raised = 0
        while line := await raiser.stdout.readline():
            ids, at, commit_at, committed_at = json.loads(line)
            batches.append(Batch(tuple(ids), at, commit_at, committed_at))
            raised += len(ids)
            if not dropped and raised >= count // 3:
                for cp in procs:
                    await cp.send({"drop": sorted(droppers.intersection(cp.clients))})
                dropped = True
        if await raiser.wait() != 0 or raised != count:
            stderr = (await errors).decode(errors="replace")[-2000:]
            raise BenchError(f"raising the alerts failed ({raiser.returncode}):\n{stderr}")
        if not dropped:
            for cp in procs:
                await cp.send({"drop": sorted(droppers.intersection(cp.clients))})
        for cp in procs:
            await cp.send({"finish": drain_s + feed.away_s})
        cpu = 0.0
        by_n = {c.n: c for c in clients}
        for cp in procs:
            if await cp.proc.wait() != 0:
                raise BenchError(f"a client process failed ({cp.proc.returncode}):\n{await cp.failure()}")
            result = json.loads(cp.result.read_text(encoding="utf-8"))
            cpu += float(result["cpu_s"])
            for got in result["clients"]:
                c = by_n[int(got["n"])]
                c.received = [(str(aid), float(read), float(at)) for aid, read, at in got["received"]]
                c.replayed = list(got["replayed"])
                c.reconnected, c.recovered = int(got["reconnected"]), int(got["recovered"])
                c.cut_off, c.closes = int(got["cut_off"]), list(got["closes"])
        errors.cancel()
        return batches, cpu
    finally:
        for proc in [*(cp.proc for cp in procs), *([raiser] if raiser else [])]:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def run_dispatch_bench(
    clients: int = 200,
    alerts: int = 2000,
    *,
    owner_url: str,
    database_url: str | None = None,
    redis_url: str | None = None,
    instances: int = 2,
    rate: float = 200.0,
    batch: int = 10,
    away_s: float = 1.0,
    drain_s: float = 30.0,
    compression: bool = True,
    client_processes: int = 0,
    json_out: Path | None = None,
    html_out: Path | None = None,
    keep: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Measure and return the figures (and write them to `json_out`, the page to `html_out`).

    `owner_url` makes, migrates and drops the scratch database; `database_url` (the application's
    role on the same server, default `owner_url`) stores the alerts and serves the API instances;
    `redis_url` is the instances' Redis (None: each starts an embedded one).
    """
    if clients < 1 or alerts < 1 or instances < 1 or rate <= 0 or batch < 1:
        raise BenchError("clients, alerts, instances, rate and batch must be positive")
    with psycopg.connect(owner_url, autocommit=True, prepare_threshold=None) as probe:
        if is_pglite(probe):
            raise BenchError("bench dispatch needs PostgreSQL: PGlite serves one connection at a time")
    load_before = os.getloadavg()
    cfg = AccessConfig()
    key = Fernet.generate_key()
    password = secrets.token_urlsafe(18)
    with contextlib.ExitStack() as stack:
        owner = stack.enter_context(_scratch_database(owner_url, keep))
        name = psycopg.conninfo.conninfo_to_dict(owner)["dbname"]
        app = psycopg.conninfo.make_conninfo(database_url or owner_url, dbname=name)
        migrate(owner)
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pw-bench-dispatch-")))
        progress = stack.enter_context(_progress(console))
        task = progress.add_task(f"a dispatcher, {instances} API instances", total=None)
        with psycopg.connect(app, autocommit=True) as conn:
            totp = _dispatcher(conn, cfg, key, password)
        servers = stack.enter_context(_instances(instances, app, redis_url, work_dir, key))
        token = _login(servers[0].url, password, totp)
        progress.remove_task(task)

        feed = Feed(
            [s.url for s in servers], token, away_s=away_s, compression="deflate" if compression else None
        )
        people = [Client(n, n % instances) for n in range(clients)]
        processes = max(1, min(client_processes or os.cpu_count() or 1, clients))
        task = progress.add_task(f"{alerts} alerts to {clients} clients in {processes} processes", total=None)
        started, api_cpu = time.perf_counter(), _cpu_s(servers)
        batches, cpu = asyncio.run(
            _run_clients(feed, people, alerts, app, rate, batch, drain_s, processes, work_dir)
        )
        elapsed = time.perf_counter() - started
        api_cpu = _cpu_s(servers) - api_cpu
        progress.remove_task(task)
    figures, fanout_ms = _figures(people, batches, instances, rate, batch)
    figures.update(compression=compression, client_processes=processes)
    figures.update(seconds=round(elapsed, 1), cpus=os.cpu_count())
    # where the machine's time went: the clients are one Python process here, not 200 browsers
    figures.update(client_cpu_s=round(cpu, 1), api_cpu_s=round(api_cpu, 1) if api_cpu >= 0 else None)
    figures.update(load_before=round(load_before[0], 2), load_after=round(os.getloadavg()[0], 2))
    if json_out is not None:
        write_json(json_out, figures)
        html_out = html_out or json_out.with_suffix(".html")
    if html_out is not None:
        html_out.write_text(render(figures, fanout_ms), encoding="utf-8")
    return figures


def _figures(
    people: Sequence[Client], batches: Sequence[Batch], instances: int, rate: float, batch: int
) -> tuple[dict[str, Any], list[float]]:
    commit = {aid: b.commit_at for b in batches for aid in b.ids}
    raised = {aid: b.raised_at for b in batches for aid in b.ids}
    fanout_ms: list[float] = []
    decoded_ms: list[float] = []
    raised_ms: list[float] = []
    delivered = lost = duplicated = replayed = 0
    for c in people:
        counts: dict[str, int] = {}
        for aid, read_at, decoded_at in c.received:
            counts[aid] = counts.get(aid, 0) + 1
            if aid in commit and counts[aid] == 1:
                fanout_ms.append((read_at - commit[aid]) * 1000)
                decoded_ms.append((decoded_at - commit[aid]) * 1000)
                raised_ms.append((read_at - raised[aid]) * 1000)
        for aid in c.replayed:
            counts[aid] = counts.get(aid, 0) + 1
        replayed += len(c.replayed)
        mine = sum(1 for aid in commit if aid in counts)
        delivered += mine
        lost += len(commit) - mine
        duplicated += sum(n - 1 for aid, n in counts.items() if aid in commit and n > 1)
    stores = [(b.committed_at - b.raised_at) * 1000 for b in batches]
    span = (batches[-1].committed_at - batches[0].raised_at) if batches else 0.0
    figures: dict[str, Any] = {
        "clients": len(people),
        "alerts": len(commit),
        "instances": instances,
        "delivered": delivered,
        "lost": lost,
        "duplicated": duplicated,
        "fanout_p50_ms": ms(percentile(fanout_ms, 0.50)),
        "fanout_p95_ms": ms(percentile(fanout_ms, 0.95)),
        "fanout_p99_ms": ms(percentile(fanout_ms, 0.99)),
        "fanout_max_ms": ms(max(fanout_ms, default=None)),
        "decoded_p50_ms": ms(percentile(decoded_ms, 0.50)),
        "decoded_p95_ms": ms(percentile(decoded_ms, 0.95)),
        "decoded_p99_ms": ms(percentile(decoded_ms, 0.99)),
        "raised_p50_ms": ms(percentile(raised_ms, 0.50)),
        "raised_p95_ms": ms(percentile(raised_ms, 0.95)),
        "replayed": replayed,
        "reconnected": sum(c.reconnected for c in people),
        "recovered": sum(c.recovered for c in people),
        "dropped_clients": sum(1 for c in people if c.reconnected and c.replayed),
        "cut_off": sum(c.cut_off for c in people),
        "rate_asked_per_s": rate,
        "rate_per_s": round(len(commit) / span, 1) if span > 0 else None,
        "batch": batch,
        "store_p50_ms": ms(percentile(stores, 0.50)),
        "store_p95_ms": ms(percentile(stores, 0.95)),
    }
    return figures, fanout_ms


def render(figures: dict[str, Any], fanout_ms: Sequence[float]) -> str:
    width = max(0.5, (percentile(fanout_ms, 0.99) or 0) / 40)
    body = (
        f"<h2>Fan-out: commit to a client's websocket ({len(fanout_ms):,} live deliveries,"
        f" {figures.get('clients')} clients on {figures.get('instances')} instances)</h2>\n"
        f"{latency_chart(_bins(fanout_ms, width), TARGET_FANOUT_P95_MS, 'fan-out latency')}\n"
        f"<h2>Figures</h2>{figures_table(figures)}"
    )
    heading = f"{figures.get('alerts'):,} alerts to {figures.get('clients')} clients"
    return page("dispatch", heading, body, ".bar { fill: #3b7dd8; }\n")
