"""`platewatch bench audit`: the access log and login against issue #20's targets.

Four figures, each measured the way the system meets it, in a scratch database made and dropped by
the bench (the API's database role appends and searches, the owner migrates):

- `append_per_s`: N rows through `access_log.append`. The first part (a fiftieth, at least 1,000)
  as a busy API writes them: one row per transaction, from `clients` threads on their own
  connections, so every row pays its commit; the rest in transactions of `FILL_BATCH` appends on
  one connection, which is how the bench fills a million rows in minutes. The figure is all N rows
  over the time both parts took; each part's own rate (and the single-row appends' latency) is
  reported beside it. Then the rows are sealed into the chain (`seal_s`, `seal_per_s`), as the API
  instances' sealers would have done as they came.
- `report_s`: the audit report (policy 462.4(c), engine/policy/audit_report.py) over the last 31
  days, here the whole log (`report_rows`); target 10 s at a million rows.
- `verify_s`: `access_log.verify` over the whole log (the N rows, the accounts', logins' and
  searches' rows), after the API instances have appended to it concurrently and their sealers
  chained it, so it also shows that two processes keep one unbroken chain. It includes sealing what
  was still waiting and the check for rows left unsealed.
- `login_p95_ms`: logins over HTTP to `instances` real API processes (`platewatch api` on loopback
  ports), each an investigator with argon2id at the shipped parameters and a TOTP code, one after
  another, each user once (a TOTP code is accepted once).
- `search_overhead_p95_ms`: what the access log adds to a search at p95, as the issue's target says
  it: `clients` threads, spread over the instances, search the reads table (filled with synthetic
  reads first) with a purpose and a case, and the same clients, with the same sessions, search
  instances that write no row (bench/nolog_api.py); the figure is the clients' search p95 with the
  log less their p95 without it. Both sets of instances run throughout and the clients switch
  between them in windows of a few seconds, in turn (`seconds` on each side), so a shared
  machine's drifting load falls on both alike; each side's searches are pooled over its windows.
  Beside it `search_overhead_p50_ms` and `_mean_ms` (the same differences) and a 95 % interval
  of the p95 difference (`search_overhead_p95_low_ms`, `_high_ms`) by resampling pairs of adjacent
  windows (`paired_bootstrap`). Until 2026-12-05 this key was the wait below; the wait is kept as
  `log_wait_p50_ms`, `log_wait_p95_ms` (`log_wait_mean_ms`, `log_wait_count`): each log instance's
  `platewatch_access_log_wait_seconds` histogram (its /metrics, from loopback), over the measured
  windows: a search writes its one row in its own statement and commits it durably with it
  (`access_log.ResultRow`), so the wait is that INSERT inside the statement (by the server's
  clock; also alone as `result_row_p50_ms`, `result_row_p95_ms`,
  `platewatch_access_log_result_row_seconds`) plus the time from the row's INSERT to the commit's
  answer in the API's thread: the commit's WAL flush, which a read-only search does not pay, and
  the result's way back and the thread's wake-up, which it does. That last part alone is what the
  no-log instances observe on the same histogram (`nolog_wait_p50_ms`, `nolog_wait_p95_ms`: the
  query's end to its answer). Every append whole is beside it (`log_append_*`,
  `platewatch_access_log_append_seconds`: rows written by `append`, which a search no longer
  makes). The chain is sealed by a thread in each log instance, whose CPU is part of what the
  searches share, and so of the difference.

The instances run on the package defaults (no site file), with this run's TOTP key and the
per-address login limit raised (every bench login comes from 127.0.0.1); the rest of the
configuration is what ships. With `--json F` (or `--html`) the run also writes a page with the
latency histograms against the targets.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pyotp
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from platewatch.engine.config.access import AccessConfig
from platewatch.engine.config.audit import AuditConfig
from platewatch.engine.policy import access_log, accounts, mfa, training
from platewatch.engine.policy.access_log import LogEntry
from platewatch.engine.policy.audit_report import build_report
from platewatch.engine.policy.directory import Actor, get_user
from platewatch.engine.policy.roles import Role
from platewatch.engine.policy.sealer import seal
from platewatch.engine.store.copy_writer import is_pglite
from platewatch.engine.store.migrate import migrate
from platewatch.engine.store.persist import PERSIST_BATCH, ReadStore

from .report import Chart, figures_table, page, write_json
from .store import _scratch_database, plate_pool, synthetic_reads

log = logging.getLogger(__name__)

TARGET_LOGIN_P95_MS = 300.0
TARGET_OVERHEAD_P95_MS = 5.0
TARGET_VERIFY_S = 20.0  # at 1,000,000 rows
HISTOGRAM = "platewatch_access_log_wait_seconds"  # what the log added to a request once its data was ready
APPEND_HISTOGRAM = "platewatch_access_log_append_seconds"  # each append whole
RESULT_HISTOGRAM = "platewatch_access_log_result_row_seconds"  # the result row's part of the wait
NOLOG_MODULE = "platewatch.engine.bench.nolog_api"
FILL_BATCH = 1000  # appends per transaction when filling
LOGINS = 60  # at least 50 for a p95
PURPOSE = "criminal investigation"  # one of the shipped access.purposes
CASE_NUMBER = "24-001234"  # the shipped access.case_number_pattern's example
ORGANISATION = "Bench PD"
_START_TIMEOUT_S = 90.0
_WARMUP_S = 3.0
#: Searches that may fail (a reset connection, a timeout) before a run's figures are not worth
#: keeping: counted per side (`searches_failed`), not timed, and the run goes on. Above this share
#: the bench stops, as a failing instance measures nothing.
MAX_FAILED_SHARE = 0.01
#: Each window of the interleaved measurement (`_interleaved_phase`): well under the API server's
#: keep-alive timeout (uvicorn's 5 s), which a side's connections outlive idle for one window.
WINDOW_S = 2.5
#: The paced phase's rate, as a share of the searches per second the no-log instances served back
#: to back in the same run: a machine kept busy but not saturated (`run_audit_bench`).
PACED_SHARE = 0.5

#: Cumulative histogram buckets as /metrics has them: (upper bound in seconds, count at or below).
Buckets = list[tuple[float, float]]


class BenchError(RuntimeError):
    """The bench could not run as asked (an API instance did not start, a login was refused…)."""


# --- statistics ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) of `values`, interpolated between the two nearest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def bucket_quantile(buckets: Buckets, q: float) -> float | None:
    """The q-quantile of a cumulative histogram, as Prometheus's histogram_quantile reckons it.

    Observations are taken as spread evenly within their bucket (from the bucket below's bound,
    or 0); a rank in the +Inf bucket gives the largest finite bound. None without observations.
    """
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank and count > lower_count:
            if math.isinf(bound):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = (lower_bound if math.isinf(bound) else bound), count
    return lower_bound


def bucket_delta(after: Buckets, before: Buckets) -> Buckets:
    """What was observed between two readings of one histogram (a bucket missing before counts 0)."""
    earlier = dict(before)
    return [(bound, count - earlier.get(bound, 0.0)) for bound, count in sorted(after)]


def bucket_sum(readings: Sequence[Buckets]) -> Buckets:
    """Several instances' histograms (same bounds) as one."""
    total: dict[float, float] = {}
    for buckets in readings:
        for bound, count in buckets:
            total[bound] = total.get(bound, 0.0) + count
    return sorted(total.items())


def histogram_from_metrics(text: str, name: str = HISTOGRAM) -> tuple[Buckets, float, float]:
    """(cumulative buckets, sum, count) of histogram `name` in a /metrics page; empty if absent."""
    buckets: Buckets = []
    total = count = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == name + "_bucket":
                buckets.append((float(sample.labels["le"]), float(sample.value)))
            elif sample.name == name + "_sum":
                total = float(sample.value)
            elif sample.name == name + "_count":
                count = float(sample.value)
    return sorted(buckets), total, count


def _less(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _observed(
    name: str, buckets: Buckets, total: float | None = None, count: float = 0.0
) -> dict[str, float | None]:
    """`name`'s p50 and p95 (ms) off a histogram, and its mean where its sum is given (None if empty)."""
    out = {f"{name}_p{q}_ms": _ms(bucket_quantile(buckets, q / 100)) for q in (50, 95)}
    if total is not None:
        out[f"{name}_mean_ms"] = _ms(total / count) if count else None
    return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# --- the department -------------------------------------------------------------------------------


@dataclass
class Investigator:
    username: str
    totp: pyotp.TOTP
    token: str | None = None


def _department(
    conn: psycopg.Connection,
    cfg: AccessConfig,
    key: bytes,
    password: str,
    count: int,
    advance: Callable[[], None],
) -> list[Investigator]:
    """A trained supervisor and `count` trained investigators with a second factor, as a site makes them.

    The operator makes the accounts and the first supervisor (the bootstrap approval), the
    supervisor approves each investigator's role and records their training, and each one enrols
    TOTP as of two minutes ago, so the current code logs them in once.
    """
    operator = Actor.console("bench")
    course = cfg.training_courses[0]
    trained_at = datetime.now(UTC) - timedelta(days=1)

    def person(username: str, role: Role, approver: Actor) -> None:
        accounts.create_user(
            conn,
            operator,
            username=username,
            display_name=username.title(),
            organisation=ORGANISATION,
            password=password,
            must_change_password=False,
        )
        grant = accounts.request_role(conn, operator, username, role)
        if grant.status == "pending":
            accounts.approve_grant(conn, cfg, approver, grant.grant_id)
        training.record_training(conn, cfg, approver, username, course, trained_at)

    person("bench-supervisor", Role.SUPERVISOR, operator)
    supervisor = get_user(conn, "bench-supervisor").as_actor("127.0.0.1")
    enrolled_at = datetime.now(UTC) - timedelta(minutes=2)
    people = []
    for n in range(count):
        username = f"bench-inv-{n + 1:03d}"
        person(username, Role.INVESTIGATOR, supervisor)
        actor = get_user(conn, username).as_actor("127.0.0.1")
        totp = pyotp.TOTP(mfa.begin_enrolment(conn, key, actor).secret)
        mfa.confirm_enrolment(conn, key, actor, totp.at(enrolled_at), now=enrolled_at)
        people.append(Investigator(username, totp))
        advance()
    return people


# --- appending ------------------------------------------------------------------------------------


def _entries(rng: random.Random, people: Sequence[str], plates: Sequence[str], count: int) -> list[LogEntry]:
    """Search-like rows: a plate, sometimes cameras and a time range, a few returned read ids."""
    out = []
    for _ in range(count):
        terms: dict[str, Any] = {"plate": rng.choice(plates), "limit": 50}
        if rng.random() < 0.3:
            terms["cameras"] = [f"cam-{rng.randrange(50):02d}" for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            terms["from"] = "2026-11-01T00:00:00+00:00"
            terms["to"] = "2026-11-30T00:00:00+00:00"
        ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(rng.randint(0, 6))]
        out.append(
            LogEntry(
                action="reads.search",
                username=rng.choice(people),
                organisation=ORGANISATION,
                client_address=f"10.0.{rng.randrange(4)}.{rng.randrange(1, 255)}",
                terms=terms,
                purpose=PURPOSE,
                case_number=CASE_NUMBER,
                returned_count=len(ids),
                returned_ids=ids,
            )
        )
    return out


@dataclass
class AppendResult:
    single_rows: int = 0
    single_s: float = 0.0
    single_ms: list[float] = field(default_factory=list)
    batched_rows: int = 0
    batched_s: float = 0.0


def _append_single(
    url: str, entries: Sequence[LogEntry], rows: int, threads: int, advance: Callable[[], None]
) -> tuple[float, list[float]]:
    """`rows` appends, one per transaction, from `threads` connections at once; (seconds, each one's ms)."""
    left = [rows]
    lock = threading.Lock()
    times: list[float] = []
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        mine: list[float] = []
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                i = seed
                while True:
                    with lock:
                        if left[0] <= 0:
                            break
                        left[0] -= 1
                    t = time.perf_counter()
                    access_log.append(conn, entries[i % len(entries)])
                    mine.append((time.perf_counter() - t) * 1000)
                    i += threads
                    advance()
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        with lock:
            times.extend(mine)

    workers = [threading.Thread(target=work, args=(n,), name=f"bench-append-{n}") for n in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise BenchError(f"appending failed: {errors[0]}") from errors[0]
    return elapsed, times


def _append_batched(
    url: str, entries: Sequence[LogEntry], rows: int, advance: Callable[[int], None]
) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        done = 0
        while done < rows:
            n = min(FILL_BATCH, rows - done)
            with conn.transaction():
                for i in range(done, done + n):
                    access_log.append(conn, entries[i % len(entries)])
            done += n
            advance(n)
    return time.perf_counter() - started


# --- the API instances ----------------------------------------------------------------------------


def _settle(owner_url: str) -> bool:
    """Vacuum the filled tables and checkpoint; whether the checkpoint was allowed.

    Why: filling a million rows in two minutes leaves the server work it does later on its own,
    and it would do it during the measured searches: autovacuum's pass over the inserted rows, and
    the checkpoint the fill's WAL triggered, whose writes and flushes slow the WAL flush that each
    logged search waits for and no unlogged search does. A site's log grows by a few rows a second,
    so that burst is the bench's, not the log's. CHECKPOINT needs a superuser or `pg_checkpoint`;
    without either the run says so (`settled`: false)."""
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) access_log, access_log_chain, reads")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Instance:
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def _instance_env(database_url: str, redis_url: str | None, data_dir: Path, key: bytes) -> dict[str, str]:
    """The environment of an instance: the package defaults, this run's database and TOTP key.

    The API connects to Redis too (cameras, hotlists), though no searched route uses it: without
    `redis_url` each instance starts an embedded one of its own on a free port.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATEWATCH_")}
    if redis_url:
        env["PLATEWATCH_SERVICES__REDIS_URL"] = redis_url
    else:
        env["PLATEWATCH_SERVICES__EMBEDDED_REDIS_PORT"] = "0"
    env.update(
        {
            "PLATEWATCH_SERVICES__DATABASE_URL": database_url,
            "PLATEWATCH_DATA_DIR": str(data_dir),
            "PLATEWATCH_ACCESS__TOTP_SECRET_KEY": key.decode(),
            # every bench login comes from 127.0.0.1; the per-user limit and lockout stay as shipped
            "PLATEWATCH_ACCESS__LOGIN_ATTEMPTS_PER_ADDRESS": "1000000",
            "PLATEWATCH_LOGGING__LEVEL": "WARNING",
        }
    )
    return env


@contextlib.contextmanager
def _instances(
    count: int,
    database_url: str,
    redis_url: str | None,
    work_dir: Path,
    key: bytes,
    *,
    module: Sequence[str] = ("platewatch.engine", "api"),
) -> Iterator[list[Instance]]:
    """`count` `platewatch api` processes on loopback ports, stopped when the block ends.

    `module`: what `python -m` runs (the no-log baseline runs `bench.nolog_api`)."""
    started: list[Instance] = []
    try:
        for n in range(count):
            data_dir = work_dir / f"api-{module[-1].rsplit('.', 1)[-1]}-{n}"
            data_dir.mkdir(mode=0o700)
            port = _free_port()
            log_path = work_dir / f"{data_dir.name}.log"
            with log_path.open("wb") as out:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        *module,
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                    ],
                    env=_instance_env(database_url, redis_url, data_dir, key),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            started.append(Instance(f"http://127.0.0.1:{port}", proc, log_path))
        deadline = time.monotonic() + _START_TIMEOUT_S
        for inst in started:
            while True:
                if inst.proc.poll() is not None:
                    raise BenchError(
                        f"an API instance exited with {inst.proc.returncode}:\n{inst.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(inst.url + "/healthz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"an API instance did not answer within {_START_TIMEOUT_S:.0f} s:\n{inst.log_tail()}"
                    )
                time.sleep(0.1)
        yield started
    finally:
        for inst in started:
            if inst.proc.poll() is None:
                inst.proc.send_signal(signal.SIGTERM)
        for inst in started:
            try:
                inst.proc.wait(15)
            except subprocess.TimeoutExpired:
                inst.proc.kill()
                inst.proc.wait()


Reading = tuple[Buckets, float, float]


def _scrape(instances: Sequence[Instance]) -> dict[str, list[Reading]]:
    """Each instance's wait and append histograms, by name."""
    out: dict[str, list[Reading]] = {HISTOGRAM: [], APPEND_HISTOGRAM: [], RESULT_HISTOGRAM: []}
    for inst in instances:
        r = httpx.get(inst.url + "/metrics", timeout=10)
        if r.status_code != 200:
            raise BenchError(f"{inst.url}/metrics answered {r.status_code}: {r.text[:200]}")
        for name, readings in out.items():
            readings.append(histogram_from_metrics(r.text, name))
    return out


def _login(client: httpx.Client, person: Investigator, password: str) -> float:
    """One login with password and TOTP; returns its milliseconds and keeps the bearer token."""
    body = {"username": person.username, "password": password, "totp": person.totp.now(), "client": "cli"}
    t = time.perf_counter()
    r = client.post("/api/v1/auth/login", json=body)
    ms = (time.perf_counter() - t) * 1000
    if r.status_code != 200:
        raise BenchError(f"login of {person.username} refused ({r.status_code}): {r.text[:300]}")
    person.token = r.json()["token"]
    return ms


LOGGED, UNLOGGED = 0, 1  # the side a search goes to: the log's instances, or the no-log ones


@dataclass
class SearchLoad:
    """The clients' searches: (start, milliseconds, side) of each answered one, (start, side) of
    each failed one, and the side the clients search now (`LOGGED` or `UNLOGGED`), switched by the
    bench."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    done: list[tuple[float, float, int]] = field(default_factory=list)
    #: (start, side) of each failed search, counted in its window like an answered one.
    failures: list[tuple[float, int]] = field(default_factory=list)
    first_failure: str | None = None
    side: int = LOGGED
    stop: threading.Event = field(default_factory=threading.Event)
    #: Searches per second each client sends, at random (Poisson) times; None: back to back.
    per_client_rate: float | None = None


def _searcher(bases: Sequence[str], token: str, plates: Sequence[str], seed: int, load: SearchLoad) -> None:
    """One client: searches, one after another, the instance of `bases` (one per side) that
    `load.side` names, with the same session on both sides."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    due = time.perf_counter()
    with contextlib.ExitStack() as stack:
        sides = [stack.enter_context(httpx.Client(base_url=b, headers=headers, timeout=60)) for b in bases]
        while not load.stop.is_set():
            if load.per_client_rate:
                # Paced: each search is due at a Poisson arrival and timed from when it was due, so a
                # search that had to wait for the one before counts that wait (no coordinated omission).
                due += rng.expovariate(load.per_client_rate)
                if load.stop.wait(max(0.0, due - time.perf_counter())):
                    break
            side = load.side
            params = {"plate": rng.choice(plates), "purpose": PURPOSE, "case": CASE_NUMBER}
            t = due if load.per_client_rate else time.perf_counter()
            try:
                r = sides[side].get("/api/v1/reads", params=params)
                ok, why = r.status_code == 200, f"{r.status_code}: {r.text[:200]}"
            except httpx.HTTPError as exc:
                ok, why = False, f"{type(exc).__name__}: {exc}"
            ms = (time.perf_counter() - t) * 1000
            with load.lock:
                if ok:
                    load.done.append((t, ms, side))
                else:
                    load.failures.append((t, side))
                    load.first_failure = load.first_failure or why


def _fill_reads(url: str, count: int) -> list[str]:
    """`count` synthetic reads over the last week; returns the plates they hold."""
    plates = plate_pool(count)
    store = ReadStore(url)
    seen: set[str] = set()
    try:
        end = time.time()
        for start in range(0, count, PERSIST_BATCH):
            chunk = synthetic_reads(start, min(PERSIST_BATCH, count - start), count, plates, end=end, days=7)
            store.write_now(chunk)
            seen.update(r.plate for r in chunk)
    finally:
        store.close()
    return sorted(seen)


def _warm(servers: Sequence[Instance]) -> None:
    """Each instance's imports, pool connections and argon2's first hash, before anything is timed."""
    for inst in servers:
        with httpx.Client(base_url=inst.url, timeout=60) as client:
            client.post("/api/v1/auth/login", json={"username": "bench-nobody", "password": "x" * 12})


@dataclass
class Phase:
    """Each instance's histograms read before and after the measured windows."""

    before: dict[str, list[Reading]]
    after: dict[str, list[Reading]]

    def observed(self, name: str) -> tuple[Buckets, float, float]:
        """Histogram `name` over every instance, counting only what was observed between the readings."""
        after, before = self.after[name], self.before[name]
        buckets = bucket_sum([bucket_delta(a[0], b[0]) for a, b in zip(after, before, strict=True)])
        total = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
        count = sum(a[2] - b[2] for a, b in zip(after, before, strict=True))
        return buckets, total, count


@dataclass
class Window:
    """A stretch of the measurement in which every client searched one side (`LOGGED`, `UNLOGGED`)."""

    side: int
    start: float
    end: float


@dataclass
class Interleaved:
    """The clients' searches, switched window by window between the log's instances and the no-log
    ones, and each side's histograms around the measurement."""

    load: SearchLoad
    windows: list[Window]
    logged: Phase
    unlogged: Phase

    def samples(self, side: int) -> list[list[float]]:
        """`side`'s searches (ms), window by window: those sent to that side that started in the
        window. Counted by their start, so a long search is never left out for ending after the
        switch (that would bias both tails alike, and the p95s with them)."""
        return [
            [ms for t, ms, s in self.load.done if s == side and w.start <= t < w.end]
            for w in self.windows
            if w.side == side
        ]

    def failed(self, side: int) -> int:
        """`side`'s searches that got no answer, among those that started in its windows."""
        return sum(
            1
            for t, s in self.load.failures
            for w in self.windows
            if w.side == side == s and w.start <= t < w.end
        )

    def samples_flat(self, side: int) -> list[float]:
        return [ms for w in self.samples(side) for ms in w]

    def seconds(self, side: int) -> float:
        return sum(w.end - w.start for w in self.windows if w.side == side)

    def overhead(self, prefix: str = "") -> dict[str, Any]:
        """The log's searches against the no-log ones: the p95, p50 and mean differences, the p95
        difference's interval, and each side's figures, keyed `prefix` + the bench's names."""
        by_window, baseline_by_window = self.samples(LOGGED), self.samples(UNLOGGED)
        search_ms = [ms for w in by_window for ms in w]
        baseline_ms = [ms for w in baseline_by_window for ms in w]
        interval = paired_bootstrap(by_window, baseline_by_window, 0.95)
        p95 = _less(percentile(search_ms, 0.95), percentile(baseline_ms, 0.95))
        return {
            f"{prefix}search_overhead_p95_ms": _round(p95),
            f"{prefix}search_overhead_p95_low_ms": _round(interval[0]) if interval else None,
            f"{prefix}search_overhead_p95_high_ms": _round(interval[1]) if interval else None,
            f"{prefix}search_overhead_p50_ms": _round(
                _less(percentile(search_ms, 0.50), percentile(baseline_ms, 0.50))
            ),
            f"{prefix}search_overhead_mean_ms": _round(_less(_mean(search_ms), _mean(baseline_ms))),
            f"{prefix}search_p50_ms": _round(percentile(search_ms, 0.50)),
            f"{prefix}search_p95_ms": _round(percentile(search_ms, 0.95)),
            f"{prefix}searches": len(search_ms),
            f"{prefix}searches_failed": self.failed(LOGGED),
            f"{prefix}searches_per_s": round(len(search_ms) / self.seconds(LOGGED), 1),
            f"{prefix}nolog_search_p50_ms": _round(percentile(baseline_ms, 0.50)),
            f"{prefix}nolog_search_p95_ms": _round(percentile(baseline_ms, 0.95)),
            f"{prefix}nolog_searches": len(baseline_ms),
            f"{prefix}nolog_searches_failed": self.failed(UNLOGGED),
            f"{prefix}nolog_searches_per_s": round(len(baseline_ms) / self.seconds(UNLOGGED), 1),
        }


def paired_bootstrap(
    logged: Sequence[Sequence[float]],
    unlogged: Sequence[Sequence[float]],
    q: float,
    reps: int = 1000,
    seed: int = 20,
) -> tuple[float, float] | None:
    """A 95 % interval of percentile(logged, q) − percentile(unlogged, q), the samples pooled.

    `logged[i]` and `unlogged[i]` are the samples of the i-th pair of adjacent windows. Whole pairs
    are resampled, not single searches: searches in one window share its load (the machine is
    shared, and drifts), so resampling searches one by one would give a falsely narrow interval;
    a pair keeps each side beside the load the other side had. None with fewer than two pairs.
    """
    n = len(logged)
    if n < 2 or len(unlogged) != n:
        return None
    rng = random.Random(seed)
    diffs = []
    for _ in range(reps):
        picks = [rng.randrange(n) for _ in range(n)]
        a = percentile([v for i in picks for v in logged[i]], q)
        b = percentile([v for i in picks for v in unlogged[i]], q)
        if a is not None and b is not None:
            diffs.append(a - b)
    low, high = percentile(diffs, 0.025), percentile(diffs, 0.975)
    return None if low is None or high is None else (low, high)


def _interleaved_phase(
    logged: Sequence[Instance],
    unlogged: Sequence[Instance],
    people: Sequence[Investigator],
    plates: Sequence[str],
    clients: int,
    seconds: float,
    window_s: float,
    progress: Progress,
    rate: float | None = None,
) -> Interleaved:
    """`clients` threads search for `seconds` on each side, in alternating windows of about
    `window_s` (at least two pairs), after a warm-up on each side.

    Why interleaved: the machine is shared, so a side measured for 20 s and then the other for 20 s
    compares two different loads; windows a few seconds long, log and no-log in turn (each window
    follows one of the other side's), give both sides the same drift. Both sets of instances run
    throughout; client n searches instance n of each set with the same session, its connection to
    a side idle for one window at a time: a side left idle for two windows (the order log, no-log,
    no-log, log was tried) reached the server's keep-alive timeout (uvicorn's 5 s), which closed
    connections as clients sent on them and failed a search."""
    pairs = max(2, round(seconds / window_s))
    window = seconds / pairs
    load = SearchLoad(side=UNLOGGED, per_client_rate=rate / clients if rate else None)
    threads = []
    for n in range(clients):
        token = people[n].token
        assert token is not None
        bases = [logged[n % len(logged)].url, unlogged[n % len(unlogged)].url]
        threads.append(
            threading.Thread(
                target=_searcher, args=(bases, token, plates, n, load), name=f"bench-search-{n}", daemon=True
            )
        )
    for t in threads:
        t.start()
    pace = f", {rate:.0f} searches/s in all" if rate else ", back to back"
    task = progress.add_task(
        f"searches, {clients} clients{pace}, log and no-log instances ({len(logged)} each) in turn",
        total=round(2 * (_WARMUP_S + seconds)),
    )
    windows: list[Window] = []
    try:
        for side in (LOGGED, UNLOGGED):
            load.side = side
            time.sleep(_WARMUP_S)
            progress.advance(task, _WARMUP_S)
        before = (_scrape(logged), _scrape(unlogged))
        for _ in range(pairs):
            for side in (LOGGED, UNLOGGED):
                load.side = side
                start = time.perf_counter()
                time.sleep(window)
                windows.append(Window(side, start, time.perf_counter()))
                progress.advance(task, window)
        after = (_scrape(logged), _scrape(unlogged))
    finally:
        load.stop.set()
        for t in threads:
            t.join(70)
    progress.remove_task(task)
    failed = len(load.failures)
    attempts = len(load.done) + failed
    if failed > MAX_FAILED_SHARE * attempts:
        raise BenchError(f"{failed} of {attempts} searches failed, the first with {load.first_failure}")
    if failed:
        log.warning(
            "%d of %d searches failed (counted, not timed), the first with %s",
            failed,
            attempts,
            load.first_failure,
        )
    return Interleaved(load, windows, Phase(before[0], after[0]), Phase(before[1], after[1]))


# --- the run --------------------------------------------------------------------------------------


def _progress(console: Console | None) -> Progress:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    return Progress(
        *columns, console=console or Console(stderr=True), transient=True, disable=console is None
    )


def run_audit_bench(
    rows: int = 1_000_000,
    *,
    owner_url: str,
    database_url: str | None = None,
    redis_url: str | None = None,
    clients: int = 20,
    instances: int = 2,
    seconds: float = 20.0,
    window_s: float = WINDOW_S,
    paced_share: float = PACED_SHARE,
    logins: int = LOGINS,
    json_out: Path | None = None,
    html_out: Path | None = None,
    keep: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Measure and return the figures (and write them to `json_out`, the page to `html_out`).

    `owner_url` makes, migrates and drops the scratch database; `database_url` (the application's
    role on the same server, default `owner_url`) appends, searches and serves the API instances;
    `redis_url` is the instances' Redis (None: each starts an embedded one). `seconds`: how long
    the clients search each side, in windows of about `window_s` (`_interleaved_phase`).
    `console`: where progress bars go (None: no progress shown).
    """
    if not 0 <= paced_share < 1:
        raise BenchError("the paced share is at least 0 (no paced phase) and under 1")
    if rows < 1 or clients < 1 or instances < 1 or seconds <= 0 or window_s <= 0 or logins < 1:
        raise BenchError("rows, clients, instances, seconds, window_s and logins must be positive")
    with psycopg.connect(owner_url, autocommit=True, prepare_threshold=None) as probe:
        if is_pglite(probe):
            raise BenchError("bench audit needs PostgreSQL: PGlite serves one connection at a time")
    load_before = os.getloadavg()
    cfg = AccessConfig()
    key = Fernet.generate_key()
    password = secrets.token_urlsafe(18)  # long, random, not a common password
    rng = random.Random(20)
    reads_count = min(50_000, max(2_000, rows // 20))
    with contextlib.ExitStack() as stack:
        owner = stack.enter_context(_scratch_database(owner_url, keep))
        name = psycopg.conninfo.conninfo_to_dict(owner)["dbname"]
        app = psycopg.conninfo.make_conninfo(database_url or owner_url, dbname=name)
        migrate(owner)
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pw-bench-audit-")))
        progress = stack.enter_context(_progress(console))

        users = max(logins, clients)
        task = progress.add_task("accounts (argon2id, TOTP)", total=users)
        with psycopg.connect(app, autocommit=True) as conn:
            people = _department(conn, cfg, key, password, users, lambda: progress.advance(task))
        progress.remove_task(task)

        task = progress.add_task("synthetic reads", total=None)
        plates = _fill_reads(app, reads_count)
        progress.remove_task(task)

        entries = _entries(rng, [p.username for p in people], plates, 2000)
        single_rows = min(rows, max(1000, rows // 50))
        result = AppendResult(single_rows=single_rows, batched_rows=rows - single_rows)
        task = progress.add_task(f"append, 1 row/transaction, {clients} threads", total=single_rows)
        result.single_s, result.single_ms = _append_single(
            app, entries, single_rows, clients, lambda: progress.advance(task)
        )
        progress.remove_task(task)
        if result.batched_rows:
            task = progress.add_task(f"append, {FILL_BATCH} rows/transaction", total=result.batched_rows)
            result.batched_s = _append_batched(
                app, entries, result.batched_rows, lambda n: progress.advance(task, n)
            )
            progress.remove_task(task)

        # Seal the filled rows now, as the instances' sealers would, so they do not spend the
        # search window catching up with a million rows.
        task = progress.add_task("seal the rows into the chain", total=None)
        with psycopg.connect(app, autocommit=True) as conn:
            t = time.perf_counter()
            sealed = seal(conn, wait=True, gap_grace_s=0)
            seal_s = time.perf_counter() - t
        progress.remove_task(task)

        task = progress.add_task("vacuum and checkpoint after the fill", total=None)
        settled = _settle(owner)
        progress.remove_task(task)

        task = progress.add_task(f"starting {instances} API instances", total=None)
        with _instances(instances, app, redis_url, work_dir, key) as servers:
            progress.remove_task(task)
            _warm(servers)
            login_ms: list[float] = []
            task = progress.add_task("logins (password + TOTP)", total=logins)
            with contextlib.ExitStack() as clients_stack:
                by_instance = [
                    clients_stack.enter_context(httpx.Client(base_url=s.url, timeout=60)) for s in servers
                ]
                for n, person in enumerate(people):
                    login_ms.append(_login(by_instance[n % instances], person, password))
                    progress.advance(task)
            progress.remove_task(task)
            # The same searches, same sessions, on instances that write no access-log row: the
            # baseline, searched in turn with the log's instances (`_interleaved_phase`).
            task = progress.add_task(f"starting {instances} no-log baseline instances", total=None)
            with _instances(instances, app, redis_url, work_dir, key, module=(NOLOG_MODULE,)) as base:
                progress.remove_task(task)
                _warm(base)
                measured = _interleaved_phase(
                    servers, base, people, plates, clients, seconds, window_s, progress
                )
                paced: Interleaved | None = None
                if paced_share > 0:
                    capacity = len(measured.samples_flat(UNLOGGED)) / measured.seconds(UNLOGGED)
                    paced = _interleaved_phase(
                        servers,
                        base,
                        people,
                        plates,
                        clients,
                        seconds,
                        window_s,
                        progress,
                        rate=paced_share * capacity,
                    )

        waits, waits_sum, waits_count = measured.logged.observed(HISTOGRAM)
        appends, appends_sum, appends_count = measured.logged.observed(APPEND_HISTOGRAM)
        result_rows = measured.logged.observed(RESULT_HISTOGRAM)[0]
        unlogged = measured.unlogged.observed(HISTOGRAM)[0]
        by_window = measured.samples(LOGGED)
        search_ms, baseline_ms = measured.samples_flat(LOGGED), measured.samples_flat(UNLOGGED)

        task = progress.add_task("verify the chain", total=None)
        with psycopg.connect(app, autocommit=True) as conn:
            report = access_log.verify(conn)
            chained = conn.execute("SELECT count(*) FROM access_log_chain").fetchone()
        progress.remove_task(task)

        task = progress.add_task("audit report over the whole log", total=None)
        with psycopg.connect(app, autocommit=True) as conn:
            audit = build_report(
                conn, AuditConfig(), cfg, datetime.now(UTC) - timedelta(days=31), datetime.now(UTC)
            )
        progress.remove_task(task)

    total_append_s = result.single_s + result.batched_s
    window = measured.seconds(LOGGED)
    figures: dict[str, Any] = {
        "rows": rows,
        "append_per_s": round(rows / total_append_s),
        "verify_s": round(report.seconds, 2),
        "report_s": round(audit.seconds, 2),
        "report_rows": audit.rows,
        "seal_s": round(seal_s, 2),
        "seal_per_s": round(sealed / seal_s) if seal_s else None,
        "login_p95_ms": _round(percentile(login_ms, 0.95), 1),
        **measured.overhead(),
        **_observed("log_wait", waits, waits_sum, waits_count),
        "log_wait_count": round(waits_count),
        **_observed("nolog_wait", unlogged),
        **_observed("result_row", result_rows),
        **_observed("log_append", appends, appends_sum, appends_count),
        "log_appends": round(appends_count),
        "windows": len(by_window),
        "window_s": round(window / len(by_window), 2),
        "login_p50_ms": _round(percentile(login_ms, 0.50), 1),
        "logins": len(login_ms),
        "append_single_rows": result.single_rows,
        "append_single_threads": clients,
        "append_single_per_s": round(result.single_rows / result.single_s),
        "append_single_p50_ms": _round(percentile(result.single_ms, 0.50)),
        "append_single_p95_ms": _round(percentile(result.single_ms, 0.95)),
        "append_batched_rows": result.batched_rows,
        "append_batch": FILL_BATCH,
        "append_batched_per_s": round(result.batched_rows / result.batched_s) if result.batched_s else None,
        "verify_ok": report.ok,
        "verified_rows": report.rows,
        "verify_problem": report.problem,
        "verify_sealed": report.sealed,
        "chained_rows": chained[0] if chained else None,
        "clients": clients,
        "instances": instances,
        "seconds": round(window, 1),
        "reads": reads_count,
        "cpus": os.cpu_count(),
        "load_before": round(load_before[0], 2),
        "load_after": round(os.getloadavg()[0], 2),
        "paced_share": paced_share,
        "settled": settled,
    }
    if paced is not None:
        rate = paced.load.per_client_rate or 0.0
        figures["paced_rate_per_s"] = round(rate * clients, 1)
        figures.update(paced.overhead("paced_"))
    if json_out is not None:
        write_json(json_out, figures)
    if html_out is None and json_out is not None:
        html_out = json_out.with_suffix(".html")
    if html_out is not None:
        html_out.write_text(
            render(
                figures,
                login_ms,
                search_ms,
                baseline_ms,
                waits,
                (paced.samples_flat(LOGGED), paced.samples_flat(UNLOGGED)) if paced is not None else None,
            ),
            encoding="utf-8",
        )
    return figures


# --- the page -------------------------------------------------------------------------------------


def _bins(values_ms: Sequence[float], width_ms: float) -> list[tuple[float, float, float]]:
    """(from ms, to ms, count) in bins of `width_ms`, every bin from 0 to the largest value."""
    if not values_ms:
        return []
    n = max(1, math.floor(max(values_ms) / width_ms) + 1)
    counts = [0] * n
    for v in values_ms:
        counts[min(n - 1, max(0, math.floor(v / width_ms)))] += 1
    return [(i * width_ms, (i + 1) * width_ms, c) for i, c in enumerate(counts)]


def _bucket_bins(buckets: Buckets) -> list[tuple[float, float, float]]:
    """A cumulative histogram (seconds) as (from ms, to ms, count) bars, up to the last one used."""
    out = []
    lower, below = 0.0, 0.0
    for bound, count in sorted(buckets):
        if math.isinf(bound):
            break
        out.append((lower * 1000, bound * 1000, count - below))
        lower, below = bound, count
    while out and out[-1][2] == 0:
        out.pop()
    return out


def latency_chart(bins: Sequence[tuple[float, float, float]], target_ms: float | None, what: str) -> str:
    """Bars of (from, to, count), their height the count per ms (so uneven buckets compare), and the
    target if there is one; a sentence when there is nothing to draw."""
    if not bins or not any(n for _, _, n in bins):
        return f"<p>No {what} were measured, so there is nothing to show.</p>"
    chart = Chart(640, 220, 30)
    pad, bottom = chart.pad, chart.bottom
    span = max(bins[-1][1], (target_ms or 0) * 1.2)
    density = [n / (hi - lo) for lo, hi, n in bins]
    scale_x = (chart.width - 2 * pad) / span
    scale_y = (chart.height - 2 * pad) / max(density)
    for (lo, hi, n), d in zip(bins, density, strict=True):
        if n:
            x, h, w = pad + lo * scale_x, d * scale_y, max(1.0, (hi - lo) * scale_x - 1)
            chart.add(
                f'<rect class="bar" x="{x:.1f}" y="{bottom - h:.1f}" width="{w:.1f}" height="{h:.1f}">'
                f"<title>{lo:g}-{hi:g} ms: {n:g}</title></rect>"
            )
    if target_ms is not None:
        tx = pad + target_ms * scale_x
        chart.line(tx, pad / 2, tx, bottom, "target")
        chart.label(tx + 4, pad, f"target {target_ms:g} ms")
    chart.axes()
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 1e4) if span / s <= 10)
    for k in range(int(span // step) + 1):
        chart.label(pad + k * step * scale_x, bottom + 14, f"{k * step:g}")
    chart.label(chart.width / 2 - 60, chart.height - 2, f"{what}, ms")
    return chart.svg()


def _paced_section(figures: dict[str, Any], paced: tuple[Sequence[float], Sequence[float]] | None) -> str:
    if paced is None:
        return ""
    search_ms, baseline_ms = paced
    width = max(1.0, (percentile([*search_ms, *baseline_ms], 0.99) or 0) / 40)
    low, high = (
        figures.get("paced_search_overhead_p95_low_ms"),
        figures.get("paced_search_overhead_p95_high_ms"),
    )
    interval = f", 95 % interval {low} to {high} ms" if low is not None else ""
    return (
        f"<h2>Paced: {figures.get('paced_rate_per_s')} searches/s in all (a share of"
        f" {figures.get('paced_share')} of what the no-log instances served back to back)</h2>\n"
        f"<p>Search p95 {figures.get('paced_search_p95_ms')} ms with the log against"
        f" {figures.get('paced_nolog_search_p95_ms')} ms without it: the log adds"
        f" <b>{figures.get('paced_search_overhead_p95_ms')} ms</b>{interval}.</p>\n"
        f"<h3>Searches with the log ({len(search_ms)})</h3>\n"
        f"{latency_chart(_bins(search_ms, width), None, 'searches')}\n"
        f"<h3>Without it ({len(baseline_ms)})</h3>\n"
        f"{latency_chart(_bins(baseline_ms, width), None, 'searches')}\n"
    )


def render(
    figures: dict[str, Any],
    login_ms: Sequence[float],
    search_ms: Sequence[float],
    baseline_ms: Sequence[float],
    waits: Buckets,
    paced: tuple[Sequence[float], Sequence[float]] | None = None,
) -> str:
    """The HTML page: what the access log adds to a search (the searches with and without it, side
    by side on one scale, and the answers' wait for the log), back to back and paced, the logins,
    and the figures."""
    search_width = max(1.0, (percentile([*search_ms, *baseline_ms], 0.99) or 0) / 40)
    low, high = figures.get("search_overhead_p95_low_ms"), figures.get("search_overhead_p95_high_ms")
    interval = f", 95 % interval {low} to {high} ms" if low is not None else ""
    body = (
        f"<h2>What the access log adds to a search ({figures.get('clients')} clients,"
        f" {figures.get('instances')} instances of each kind, in turn)</h2>\n"
        f"<p>Search p95 {figures.get('search_p95_ms')} ms with the log against"
        f" {figures.get('nolog_search_p95_ms')} ms without it, in interleaved windows: the log adds"
        f" <b>{figures.get('search_overhead_p95_ms')} ms</b>{interval}"
        f" (target {TARGET_OVERHEAD_P95_MS:g} ms).</p>\n"
        f"<h3>Searches with the log ({len(search_ms)})</h3>\n"
        f"{latency_chart(_bins(search_ms, search_width), None, 'searches')}\n"
        f"<h3>The same clients' searches without it ({len(baseline_ms)})</h3>\n"
        f"{latency_chart(_bins(baseline_ms, search_width), None, 'searches')}\n"
        f"<h3>The answers' wait for the access log once their data was ready</h3>\n"
        f"{latency_chart(_bucket_bins(waits), None, 'waits for the access log')}\n"
        f"{_paced_section(figures, paced)}"
        f"<h2>Logins, password and TOTP ({len(login_ms)})</h2>\n"
        f"{latency_chart(_bins(login_ms, 10.0), TARGET_LOGIN_P95_MS, 'logins')}\n"
        f"<h2>Figures</h2>{figures_table(figures)}"
    )
    heading = f"{figures.get('rows'):,} rows" if isinstance(figures.get("rows"), int) else "access log"
    return page("audit", heading, body, ".bar { fill: #3b7dd8; }\n")
