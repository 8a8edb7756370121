"""`platewatch bench pipeline --faults LIST` and `--soak`: the whole stack, killed one part at a time.

Everything is this run's own, each its own process as `platewatch up` runs them: an embedded
PostgreSQL, Redis and tansu broker in a scratch directory, two `platewatch worker`s sharing the
cameras (looped demo videos with known plates, all but one plate hotlisted), one `platewatch api`,
and a logged-in dispatcher whose websocket reconnects and asks for a replay as the dispatch page
does. Each fault in turn: SIGKILL (the process and its children, as a crash leaves them), `down_s`
of absence, a restart on the same data and address (what `up`'s supervision does), and the time
until the stack is whole again (`recovery_s`: from the restart until the service answers, every
camera is captured again and an alert from a frame taken after the restart has reached the
dispatcher). At the end (`faults_score.py`): every watched pass stored once, every hotlisted pass's
alert received once, error-level log lines outside the faults' own windows, and processes that
would not stop or kept spinning.

The embedded broker keeps its topics in memory (tansu's other engines were measured too slow or are
not built in; docs/streams.md), so the passes the broker fault loses are reported under it and in
`lost_broker_not_durable`, not in `lost`.

`--soak` runs the same stack with no faults and samples every process's memory (RSS) and the alert
latencies per minute; growth is measured from the end of `SOAK_WARMUP_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil
import psycopg
from cryptography.fernet import Fernet

from platewatch.engine.config.access import AccessConfig
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.services import (
    Embedded,
    start_embedded_broker,
    start_embedded_postgres,
    start_embedded_redis,
)
from platewatch.engine.services.process import free_port
from platewatch.engine.store.migrate import migrate

from . import faults_score as fs
from .audit import BenchError, _instance_env, percentile
from .dispatch import _dispatcher, _login
from .live_stack import Feed, Worker, camera_health, hotlist_plates, listening, worker_env
from .report import Chart, figures_table, page, table, write_json

if TYPE_CHECKING:
    from .demo import DemoVideo

FAULTS = ("worker", "api", "redis", "database", "broker")
#: Durable embedded services: a fault of these must lose nothing.
DURABLE = {"worker", "api", "redis", "database"}
FIRST_ALERT_TIMEOUT_S = 300.0
RECOVERY_TIMEOUT_S = 120.0
SETTLE_S = 12.0  # after the last fault, before the end of the counted window
DRAIN_S = 12.0  # after the window: final reads and alerts on their way
SOAK_WARMUP_S = 300.0
RSS_EVERY_S = 10.0
HOST = "127.0.0.1"
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)[,.](\d+)")
_ERROR = re.compile(r"\b(ERROR|CRITICAL|FATAL|PANIC)\b")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Api:
    """`platewatch api` on a fixed port, so a restart comes back where the dispatcher reconnects."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=lambda: free_port(HOST))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "platewatch.engine", "api", "--host", HOST, "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def answers(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
        return False

    def wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.answers():
            if self.proc is not None and self.proc.poll() is not None:
                raise BenchError(f"the API exited with {self.proc.returncode}:\n{_tail(self.log)}")
            if time.monotonic() > deadline:
                raise BenchError(f"the API did not answer within {timeout_s:.0f} s:\n{_tail(self.log)}")
            time.sleep(0.2)


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and everything under it, as a crash of the machine's process would leave it."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=10)


def _stop_gently(proc: subprocess.Popen[bytes] | None, timeout_s: float = 30.0) -> bool:
    """SIGTERM and wait; True when it had to be killed (it was stuck)."""
    if proc is None or proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
        return False
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        proc.wait()
        return True


@dataclass
class FaultRecord:
    name: str
    killed_at: float
    restarted_at: float = 0.0
    answered_at: float = 0.0
    recovered_at: float | None = None

    def detail(self) -> dict[str, Any]:
        rec = None if self.recovered_at is None else round(self.recovered_at - self.restarted_at, 1)
        return {
            "fault": self.name,
            "down_s": round(self.restarted_at - self.killed_at, 1),
            "answered_s": round(self.answered_at - self.restarted_at, 1),
            "recovery_s": rec,
        }


@dataclass
class Stack:
    """The run's processes and how to kill and bring back each."""

    work: Path
    video: DemoVideo
    cameras: list[CameraSpec]
    pg: Embedded
    redis: Embedded
    broker: Embedded
    api: Api
    workers: list[Worker]
    owner_url: str
    app_url: str
    feed: Feed | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    retired: list[Embedded] = field(default_factory=list)

    def port(self, e: Embedded) -> int:
        return int(e.url.rsplit(":", 1)[1].split("/", 1)[0])

    def kill(self, name: str, which: int = 0) -> None:
        if name == "worker":
            proc = self.workers[which].proc
            assert proc is not None
            _kill_tree(proc.pid)
        elif name == "api":
            assert self.api.proc is not None
            _kill_tree(self.api.proc.pid)
        else:
            _kill_tree(getattr(self, _ATTR[name]).pid)

    def restart(self, name: str, which: int = 0) -> None:
        """Start it again on the same data and port; returns once it answers."""
        if name == "worker":
            self.workers[which].start()
        elif name == "api":
            self.api.start()
            self.api.wait(60)
        else:
            old: Embedded = getattr(self, _ATTR[name])
            self.retired.append(old)
            if name == "broker":
                self.kill_workers()
            start = _STARTERS[name]
            setattr(self, _ATTR[name], start(self.work / name, HOST, self.port(old), 60.0))
            if name == "broker":
                for w in self.workers:
                    w.start()

    def kill_workers(self) -> None:
        """What `platewatch up` does when its embedded broker dies: the workers' consumer positions
        belong to the broker that died, and a clean stop would commit them into the empty one
        (engine/services/broker_loss.py), so they are killed, and started afresh once it is back.

        Killed *before* the broker comes back: a worker that outlives it reconnects within 100 ms,
        rejoins the empty broker's consumer group and may become its leader; killed then, that
        leader never hands out partitions and the fresh workers' sync waits until its session
        times out (bench pipeline --faults broker: 19.8 s of recovery instead of 14)."""
        for w in self.workers:
            if w.proc is not None:
                _kill_tree(w.proc.pid)
                w.proc.wait()

    def processes(self) -> dict[str, int]:
        """Every process of the stack by role, for RSS and CPU samples."""
        found = {
            "postgres": self.pg.pid,
            "redis": self.redis.pid,
            "broker": self.broker.pid,
        }
        if self.api.proc is not None and self.api.proc.poll() is None:
            found["api"] = self.api.proc.pid
        for n, w in enumerate(self.workers):
            if w.proc is not None and w.proc.poll() is None:
                found[f"worker-{n}"] = w.proc.pid
        return found

    def logs(self) -> dict[str, Path]:
        found = {f"worker-{n}": w.log for n, w in enumerate(self.workers)}
        found["api"] = self.api.log
        found["postgres"] = self.pg.process.log_path
        found["redis"] = self.redis.process.log_path
        found["broker"] = self.broker.process.log_path
        return found


_ATTR = {"redis": "redis", "database": "pg", "broker": "broker"}
_STARTERS: dict[str, Callable[[Path, str, int, float], Embedded]] = {
    "redis": start_embedded_redis,
    "database": start_embedded_postgres,
    "broker": start_embedded_broker,
}


def _rss_mb(pid: int) -> float | None:
    """Resident memory of a process and its children (PostgreSQL's backends, a worker's helpers)."""
    try:
        root = psutil.Process(pid)
        total = int(root.memory_info().rss)
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return round(total / 2**20, 1)
    except psutil.Error:
        return None


@contextlib.contextmanager
def _stack(video: DemoVideo, cameras: int, fps: float, work: Path) -> Iterator[Stack]:
    key = Fernet.generate_key()
    password = secrets.token_urlsafe(18)
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(start_embedded_postgres(work / "database", HOST, 0, 60.0))
        broker = stack.enter_context(start_embedded_broker(work / "broker", HOST, 0, 30.0))
        hot = stack.enter_context(start_embedded_redis(work / "redis", HOST, 0, 30.0))
        migrate(pg.owner_url)
        plates = sorted({p.plate for p in video.passes})
        hotlist_plates(hot.url, plates[:-1])  # one plate stays off the list: its passes raise nothing
        with psycopg.connect(pg.url, autocommit=True) as conn:
            totp = _dispatcher(conn, AccessConfig(), key, password)
        (work / "api").mkdir(mode=0o700)
        api = Api(_instance_env(pg.url, hot.url, work / "api", key), work / "api.log")
        api.start()
        stack.callback(lambda: _stop_gently(api.proc))
        api.wait(120)
        specs = [
            CameraSpec(id=f"fault-{n}", name=f"Fault camera {n}", url=str(video.path), fps=fps)
            for n in range(cameras)
        ]
        app_id = f"pw-faults-{uuid.uuid4().hex[:8]}"
        workers = []
        for n in range(2):
            env = worker_env(
                broker_url=broker.url,
                database_url=pg.url,
                redis_url=hot.url,
                data_dir=work / f"worker-{n}",
                cameras=specs,
                PLATEWATCH_KAFKA__APP_ID=app_id,
            )
            workers.append(Worker(env, work / f"worker-{n}.log"))
        s = Stack(work, video, specs, pg, hot, broker, api, workers, pg.owner_url, pg.url)
        # last in, first out: the workers stop first, then the services of now, then any retired
        stack.callback(_stop_all, lambda: [s.pg, s.redis, s.broker, *s.retired])
        stack.callback(lambda: [_stop_gently(w.proc) for w in s.workers])
        s.feed = Feed(api.url, _login(api.url, password, totp), reconnect=True)
        yield s


def _stop_all(services: Callable[[], list[Embedded]]) -> None:
    for e in services():
        e.stop()


async def _sample(s: Stack, stop: asyncio.Event, rss: list[dict[str, Any]] | None) -> None:
    """Camera health every second (the sessions), and RSS every RSS_EVERY_S when asked."""
    ids = [c.id for c in s.cameras]
    next_rss = 0.0
    while not stop.is_set():
        with contextlib.suppress(Exception):  # Redis may be the part that is down
            found = await asyncio.to_thread(camera_health, s.redis.url, ids)
            s.samples.extend(found.values())
        if rss is not None and time.monotonic() >= next_rss:
            next_rss = time.monotonic() + RSS_EVERY_S
            rss.append({"at": time.time(), **{k: _rss_mb(pid) for k, pid in s.processes().items()}})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def _captured_since(s: Stack, t: float) -> bool:
    """Every camera has a frame captured after `t` in its latest health report."""
    latest: dict[str, float] = {}
    for h in s.samples[-4 * len(s.cameras) :]:
        age = h.get("last_frame_age_s")
        if age is not None:
            cid = str(h["camera_id"])
            latest[cid] = max(latest.get(cid, 0.0), float(h["at"]) - float(age))
    return all(latest.get(c.id, 0.0) > t for c in s.cameras)


async def _recover(s: Stack, rec: FaultRecord) -> None:
    """Wait until the stack is whole again after `rec`'s restart (or RECOVERY_TIMEOUT_S)."""
    assert s.feed is not None
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while time.monotonic() < deadline:
        fresh = any(r.read_time > rec.restarted_at for r in s.feed.raised[-50:])
        if s.feed.up and fresh and _captured_since(s, rec.restarted_at):
            rec.recovered_at = time.time()
            return
        await asyncio.sleep(0.25)


async def _run(
    s: Stack,
    faults: Sequence[str],
    seconds: float,
    down_s: float,
    soak: bool,
    console: Any,
    starter: ThreadPoolExecutor,
) -> tuple[float, float, list[FaultRecord], list[tuple[str, float]], list[dict[str, Any]]]:
    assert s.feed is not None
    feed = s.feed
    stop = asyncio.Event()
    rss: list[dict[str, Any]] | None = [] if soak else None
    sampler = asyncio.create_task(_sample(s, stop, rss))
    records: list[FaultRecord] = []
    slots: list[tuple[str, float]] = []
    try:
        async with listening(feed, 60):
            for w in s.workers:
                w.start()
            if not await feed.wait_for(1, FIRST_ALERT_TIMEOUT_S, lambda: all(w.alive() for w in s.workers)):
                raise BenchError(f"no alert within {FIRST_ALERT_TIMEOUT_S:.0f} s:\n{s.workers[0].tail()}")
            # both workers joined, every camera captured: the counted window starts
            await asyncio.sleep(10)
            t0 = time.time()
            console.log(f"stack up; counting from now for {seconds:.0f} s + settle")
            gap = seconds / max(1, len(faults))
            for n, name in enumerate(faults):
                slot_start = time.time()
                slots.append((name, slot_start))
                await asyncio.sleep(min(5.0, gap / 4))
                rec = FaultRecord(name, time.time())
                console.log(f"fault {n + 1}/{len(faults)}: SIGKILL {name}")
                s.kill(name, which=n % 2)
                await asyncio.sleep(down_s)
                rec.restarted_at = time.time()
                await asyncio.get_running_loop().run_in_executor(starter, s.restart, name, n % 2)
                rec.answered_at = time.time()
                await _recover(s, rec)
                records.append(rec)
                detail = rec.detail()
                console.log(f"  {name}: back, recovery {detail['recovery_s']} s")
                await asyncio.sleep(max(0.0, slot_start + gap - time.time()))
            if not faults:
                await _soak_wait(seconds, console)
            slots.append(("settle", time.time()))
            await asyncio.sleep(SETTLE_S)
            t1 = time.time()
            await asyncio.sleep(DRAIN_S)
    finally:
        stop.set()
        await sampler
    return t0, t1, records, slots, rss or []


async def _soak_wait(seconds: float, console: Any) -> None:
    began = time.monotonic()
    while (left := seconds - (time.monotonic() - began)) > 0:
        await asyncio.sleep(min(60.0, left))
        console.log(f"soak: {min(seconds, time.monotonic() - began) / 60:.1f} of {seconds / 60:.0f} min")


def _stored_reads(url: str) -> list[tuple[str, str, float]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT camera_id, plate, extract(epoch FROM time) FROM reads WHERE NOT provisional"
        ).fetchall()
    return [(str(c), str(p), float(t)) for c, p, t in rows]


def scan_logs(logs: dict[str, Path], windows: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """Error-level lines and tracebacks of every log, split by whether a fault's window holds them
    (a provoked error: a worker that lost its database says so). Lines without a time of their
    own (a traceback's body, a server's continuation) take the last time seen above them."""
    out: dict[str, Any] = {"errors_unprovoked": 0, "errors_provoked": 0, "tracebacks_unprovoked": 0}
    examples: list[str] = []
    offset = time.timezone if time.daylight == 0 else time.altzone  # log times are local
    for name, path in logs.items():
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        at: float | None = None
        for raw in lines:
            line = _ANSI.sub("", raw)
            m = _STAMP.match(line)
            if m:
                with contextlib.suppress(ValueError):
                    parsed = time.strptime(m.group(1).replace("T", " "), "%Y-%m-%d %H:%M:%S")
                    at = time.mktime(parsed) + (0 if "UTC" not in line[:40] else -offset)
            is_tb = "Traceback (most recent call last)" in line
            if not (is_tb or _ERROR.search(line)):
                continue
            provoked = at is not None and any(a <= at <= b for a, b in windows)
            if is_tb:
                out["tracebacks_unprovoked"] += not provoked
                continue
            out["errors_provoked" if provoked else "errors_unprovoked"] += 1
            if not provoked and len(examples) < 10:
                examples.append(f"{name}: {line[:240]}")
    out["error_examples"] = examples
    return out


def _latency_per_minute(feed: Feed, firsts: dict[str, float], t0: float) -> list[dict[str, Any]]:
    by_minute: dict[int, list[float]] = {}
    seen: set[str] = set()
    for r in feed.raised:
        aid = str(r.alert.get("alert_id"))
        if aid in seen or r.read_time < t0:
            continue
        seen.add(aid)
        by_minute.setdefault(int((r.at - t0) // 60), []).append((r.at - r.read_time) * 1000)
    return [
        {
            "minute": m,
            "alerts": len(v),
            "p50_ms": _r(percentile(v, 0.5)),
            "p95_ms": _r(percentile(v, 0.95)),
        }
        for m, v in sorted(by_minute.items())
    ]


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def memory_growth(rss: Sequence[dict[str, Any]], t0: float, warmup_s: float) -> dict[str, Any]:
    """Per role, RSS at the end of the warm-up vs the last sample (the broker reported, not summed:
    its topics live in memory and grow with every record by design)."""
    after = [r for r in rss if r["at"] >= t0 + warmup_s]
    if len(after) < 2:
        return {"memory_growth_pct": None}
    first, last = after[0], after[-1]
    roles = sorted({k for r in rss for k in r if k != "at"})
    per = {}
    for role in roles:
        a, b = first.get(role), last.get(role)
        if a and b:
            per[role] = round((b - a) / a * 100, 1)
    counted = [k for k in roles if k != "broker" and first.get(k) and last.get(k)]
    total_a = sum(first[k] for k in counted)
    total_b = sum(last[k] for k in counted)
    return {
        "memory_growth_pct": round((total_b - total_a) / total_a * 100, 2) if total_a else None,
        "memory_growth_by_process_pct": per,
        "rss_after_warmup_mb": round(total_a, 1),
        "rss_end_mb": round(total_b, 1),
    }


def run_fault_bench(
    faults: Sequence[str],
    seconds: float,
    *,
    cameras: int = 3,
    width: int = 1280,
    height: int = 720,
    fps: int = 5,
    down_s: float = 2.0,
    soak: bool = False,
    json_path: Path | None = None,
    html_path: Path | None = None,
    logs_dir: Path | None = None,
    console: Any = None,
) -> dict[str, Any]:
    """Run the stack through `faults` (or a soak of `seconds` with none) and return the figures."""
    from rich.console import Console

    from .pipeline import _video

    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise ValueError(f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
    console = console or Console(stderr=True)
    video = _video(width, height, fps, None)
    # Services restarted from this thread live as long as it does: an embedded server gets its
    # parent-death signal when the *thread* that started it ends (services/process.py), and
    # asyncio's own executor ends its threads when the event loop closes, before the counting.
    starter = ThreadPoolExecutor(1, thread_name_prefix="fault-restarts")
    with starter, tempfile.TemporaryDirectory(prefix="pw-bench-faults-") as tmp:
        work = Path(tmp)
        began = time.time()
        with _stack(video, cameras, float(fps), work) as s:
            ready = time.time()  # the services' own start (PostgreSQL refuses its probes meanwhile)
            t0, t1, records, slots, rss = asyncio.run(
                _run(s, faults, seconds, down_s, soak, console, starter)
            )
            reads = _stored_reads(s.owner_url)
            stuck = [
                name
                for name, w in zip(("worker-0", "worker-1"), s.workers, strict=True)
                if _stop_gently(w.proc)
            ]
            spinning = _spinning(s)
            stuck += ["api"] if _stop_gently(s.api.proc) else []
            windows = [
                (r.killed_at - 1, (r.recovered_at or r.restarted_at + RECOVERY_TIMEOUT_S) + 5)
                for r in records
            ]
            logs = scan_logs(s.logs(), [(began - 1, ready + 1), *windows])
            if logs_dir is not None:
                _keep(s, logs_dir, reads)
            assert s.feed is not None
            feed = s.feed
            figures = _figures(s, video, feed, reads, t0, t1, records, slots, rss, soak)
            figures.update(logs, stuck=stuck, spinning=spinning)
    if json_path is not None:
        write_json(json_path, figures)
        html_path = html_path or json_path.with_suffix(".html")
    if html_path is not None:
        html_path.write_text(render(figures, rss), encoding="utf-8")
    return figures


def _keep(s: Stack, folder: Path, reads: list[tuple[str, str, float]]) -> None:
    """The run's logs and what was counted, for a reader who wants to see why a pass was lost."""
    import json
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for name, path in s.logs().items():
        with contextlib.suppress(OSError):
            shutil.copyfile(path, folder / f"{name}.log")
    assert s.feed is not None
    dump = {
        "health": s.samples,
        "reads": reads,
        "alerts": [{"at": r.at, **r.alert} for r in s.feed.raised],
        "ws_closes": s.feed.closes,
    }
    (folder / "counted.json").write_text(json.dumps(dump, default=str), encoding="utf-8")


def _spinning(s: Stack) -> list[str]:
    """Services still burning CPU once the workers are gone (a retry loop with no sleep)."""
    procs = {}
    for role, pid in s.processes().items():
        if role.startswith("worker"):
            continue
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(pid)
            p.cpu_percent(None)
            procs[role] = p
    time.sleep(3.0)
    hot = []
    for role, p in procs.items():
        with contextlib.suppress(psutil.Error):
            if p.cpu_percent(None) > 50.0:
                hot.append(role)
    return hot


def _figures(
    s: Stack,
    video: DemoVideo,
    feed: Feed,
    reads: list[tuple[str, str, float]],
    t0: float,
    t1: float,
    records: list[FaultRecord],
    slots: list[tuple[str, float]],
    rss: list[dict[str, Any]],
    soak: bool,
) -> dict[str, Any]:
    plans = [fs.PassPlan(p.plate, p.enter_s, p.leave_s) for p in video.passes]
    listed = set(sorted({p.plate for p in video.passes})[:-1])
    sessions = fs.sessions_from_health(s.samples)
    alerts = [(str(r.alert["camera_id"]), str(r.alert["entry"]), r.read_time) for r in feed.raised]
    total, per, stray = fs.score(
        plans, video.seconds, sessions, listed, reads, alerts, slots, start=t0, end=t1
    )
    blind, double = fs.coverage(sessions, [c.id for c in s.cameras], t0, t1)
    broker = per.get("broker", fs.Tally())
    durable_loss = 0 if "broker" in DURABLE else broker.lost
    details = []
    for rec in records:
        tally = per.get(rec.name, fs.Tally())
        details.append({**rec.detail(), **tally.as_dict()})
    latencies = [(r.at - r.read_time) * 1000 for r in feed.raised if r.read_time >= t0]
    figures: dict[str, Any] = {
        "mode": "soak" if soak else "faults",
        "faults": [r.name for r in records],
        "cameras": len(s.cameras),
        "workers": len(s.workers),
        "resolution": f"{video.width}x{video.height}",
        "camera_fps": video.fps,
        "seconds": round(t1 - t0, 1),
        "passes": total.expected,
        "sessions": len(sessions),
        "blind_camera_s": blind,
        "double_capture_s": double,
        "lost": total.lost - durable_loss,
        "duplicated": total.duplicated - (0 if "broker" in DURABLE else broker.duplicated),
        "alerts_lost": total.alerts_lost - (0 if "broker" in DURABLE else broker.alerts_lost),
        "alerts_duplicated": total.alerts_duplicated
        - (0 if "broker" in DURABLE else broker.alerts_duplicated),
        "lost_broker_not_durable": durable_loss,
        "alerts_lost_broker_not_durable": 0 if "broker" in DURABLE else broker.alerts_lost,
        "alerts_expected": total.listed,
        "alerts_received": len(feed.raised),
        "alerts_replayed": feed.replayed,
        "alerts_stray": stray,
        "ws_reconnects": feed.reconnects,
        "ws_not_recovered": feed.not_recovered,
        "recovery_s": {r.name: r.detail()["recovery_s"] for r in records},
        "recovery_max_s": max((d["recovery_s"] or RECOVERY_TIMEOUT_S for d in details), default=None),
        "ws_latency_p50_ms": _r(percentile(latencies, 0.5)),
        "ws_latency_p95_ms": _r(percentile(latencies, 0.95)),
        "problems": total.examples[:12],
        "per_fault": details,
    }
    if soak:
        figures["latency_per_minute"] = _latency_per_minute(feed, {}, t0)
        figures.update(memory_growth(rss, t0, min(SOAK_WARMUP_S, (t1 - t0) / 3)))
        figures["warmup_s"] = min(SOAK_WARMUP_S, (t1 - t0) / 3)
    return figures


def rss_chart(rss: Sequence[dict[str, Any]]) -> str:
    """RSS of each process over the run, one line each."""
    if len(rss) < 2:
        return "<p>Too few memory samples for a chart.</p>"
    roles = sorted({k for r in rss for k in r if k != "at"})
    t0, t1 = rss[0]["at"], rss[-1]["at"]
    top = max((r.get(k) or 0) for r in rss for k in roles) or 1.0
    chart = Chart(720, 280, 40)
    sx = (chart.width - 2 * chart.pad) / max(1.0, t1 - t0)
    sy = (chart.height - 2 * chart.pad) / top
    for n, role in enumerate(roles):
        pts = [(chart.pad + (r["at"] - t0) * sx, chart.bottom - r[role] * sy) for r in rss if r.get(role)]
        chart.polyline(pts, f"s{n % 6}")
        if pts:
            chart.label(pts[-1][0] - 60, pts[-1][1] - 4, role)
    chart.axes(y_axis=True)
    chart.label(chart.pad, chart.pad / 2, f"{top:.0f} MB")
    chart.label(chart.width / 2, chart.height - 4, f"minutes (0 to {(t1 - t0) / 60:.1f})")
    return chart.svg()


def render(figures: dict[str, Any], rss: Sequence[dict[str, Any]]) -> str:
    heading = (
        f"{figures['mode']}: {', '.join(figures['faults']) or 'no faults'}, {figures['cameras']} cameras"
    )
    plain = {k: v for k, v in figures.items() if not isinstance(v, list | dict)}
    head = (
        "fault",
        "down s",
        "recovery s",
        "passes",
        "lost",
        "duplicated",
        "alerts",
        "alerts lost",
        "alerts dup",
    )
    rows = (
        (
            d["fault"],
            d["down_s"],
            d["recovery_s"],
            d["expected_passes"],
            d["lost"],
            d["duplicated"],
            d["expected_alerts"],
            d["alerts_lost"],
            d["alerts_duplicated"],
        )
        for d in figures["per_fault"]
    )
    body = f"<h2>Figures</h2>{figures_table(plain)}\n<h2>Faults</h2>{table(head, rows)}"
    if figures.get("latency_per_minute"):
        lm = figures["latency_per_minute"]
        body += "<h2>Latency per minute</h2>" + table(
            ("minute", "alerts", "p50 ms", "p95 ms"),
            ((m["minute"], m["alerts"], m["p50_ms"], m["p95_ms"]) for m in lm),
        )
    if rss:
        body += f"<h2>Memory (RSS, MB)</h2>{rss_chart(rss)}"
    if figures.get("problems"):
        body += (
            "<h2>Problems</h2><ul>"
            + "".join(f"<li>{html.escape(p)}</li>" for p in figures["problems"])
            + "</ul>"
        )
    if figures.get("error_examples"):
        body += (
            "<h2>Unprovoked error lines</h2><ul>"
            + "".join(f"<li>{html.escape(e)}</li>" for e in figures["error_examples"])
            + "</ul>"
        )
    style = (
        "tr:nth-child(even) { background: #f3f3f3; } polyline { stroke-width: 1.5; }"
        " .s0 { stroke: #3b7dd8; } .s1 { stroke: #d83b3b; } .s2 { stroke: #3bd87d; }"
        " .s3 { stroke: #d8a03b; } .s4 { stroke: #7d3bd8; } .s5 { stroke: #555; }\n"
    )
    return page("pipeline faults", heading, body, style)
