"""`platewatch bench search`: the investigator's searches through the API against issue #22's targets.

What an investigator waits for, measured the way they meet it: each search is an HTTP request to a
real `platewatch api` process on loopback, as a logged-in investigator (argon2id password and TOTP),
with a purpose and a case number, so the guard, the purpose check and the access-log row written
before the answer leaves are all in the figure. One client, one search at a time: this is latency,
not throughput (`bench audit` measures searches under load).

The scratch database (made and dropped by the bench, as `bench store` and `bench audit` do) holds
`reads` synthetic reads shaped like `bench store`'s: a pool of returning vehicles, 50 cameras, spread
evenly over `days` days; every fourth pass also has its provisional read (a second before the
final, same plate), so the pass collapse has work on every search. The 50 cameras stand on a grid
300 m apart (camera_definitions, as `platewatch camera add` stores them). Before measuring, the
store upkeep the worker runs hourly is run (time index ranges summarised) and statistics taken.

Four kinds, `searches` of each, interleaved (so a slow minute of a shared machine hits all kinds
alike), every search over all history unless said otherwise, newest first, a page of 50:
- exact: a plate that exists;
- partial: half with a trailing wildcard (`7AB?1*`), half with a leading one (`*C123`);
- fuzzy: an existing plate with its OCR-confusable characters swapped (0↔O, 1↔I, 8↔B…), fuzzy=true;
- area: a circle of 400-800 m somewhere on the camera grid and one hour of the days (the canvass).
The figures are each kind's p95 (and p50) in milliseconds, and `plate_texts`: the distinct plate
texts the partial searches are matched against (the plate dictionary, engine/store/search_texts.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
from cryptography.fernet import Fernet
from rich.console import Console

from platewatch.codecs import Read
from platewatch.engine.config.access import AccessConfig
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.ingest.camera_store import put_camera
from platewatch.engine.store.copy_writer import is_pglite
from platewatch.engine.store.migrate import migrate
from platewatch.engine.store.persist import PERSIST_BATCH, ReadStore
from platewatch.engine.store.retention import clean_gin_pending, store_backend, summarize_brin
from platewatch.engine.track.ids import time_ordered_id
from platewatch.engine.track.tracker import PASS_NAMESPACE

from .audit import CASE_NUMBER, PURPOSE, BenchError, _department, _instances, _login, _progress, percentile
from .report import write_json
from .store import CAMERAS, _scratch_database, plate_pool, synthetic_reads

TARGET_P95_MS = 100.0  # per kind, at 10,000,000 reads (issue #22)
KINDS = ("exact", "partial", "fuzzy", "area")
CENTRE = (37.7793, -122.4193)
GRID_M = 300.0  # metres between neighbouring cameras
_SWAP = str.maketrans("0O1I8B5S2Z6G", "O0I1B8S5Z2G6")
_WARMUP = 3  # searches of each kind before measuring


def camera_grid() -> list[CameraSpec]:
    """The bench's 50 cameras (cam-00 … cam-49, as the synthetic reads name them) on a 10 x 5 grid."""
    out = []
    per_m_lon = 111_195.0 * math.cos(math.radians(CENTRE[0]))
    for n in range(CAMERAS):
        north, east = (n // 10 - 2) * GRID_M, (n % 10 - 4.5) * GRID_M
        out.append(
            CameraSpec(
                id=f"cam-{n:02d}",
                url="file:///dev/null",
                name=f"Bench site {n}",
                enabled=False,
                latitude=CENTRE[0] + north / 111_195.0,
                longitude=CENTRE[1] + east / per_m_lon,
            )
        )
    return out


def with_provisionals(chunk: list[Read]) -> list[Read]:
    """Every fourth pass also gets its provisional read, a second before the final, same plate."""
    out: list[Read] = []
    for n, read in enumerate(chunk):
        if n % 4 == 0:
            t = read.time - 1.0
            out.append(
                dataclasses.replace(
                    read,
                    read_id=time_ordered_id(PASS_NAMESPACE, f"{read.pass_id}|provisional", t),
                    time=t,
                    provisional=True,
                )
            )
        out.append(read)
    return out


def _fill(url: str, count: int, days: float, advance: Callable[[int], None]) -> tuple[list[str], int, float]:
    """Writes the passes of `count` final reads (and their provisionals); (plates read, rows, end time)."""
    plates = plate_pool(count)
    store = ReadStore(url)
    seen: set[str] = set()
    rows = 0
    end = time.time()
    try:
        for start in range(0, count, PERSIST_BATCH):
            chunk = synthetic_reads(
                start, min(PERSIST_BATCH, count - start), count, plates, end=end, days=days
            )
            batch = with_provisionals(chunk)
            store.write_now(batch)
            rows += len(batch)
            seen.update(r.plate for r in chunk)
            advance(len(chunk))
    finally:
        store.close()
    return sorted(seen), rows, end


def _queries(
    rng: random.Random, plates: list[str], n: int, end: float, days: float, grid: list[CameraSpec]
) -> list[tuple[str, dict[str, Any]]]:
    """`n` searches of each kind, interleaved."""
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(n):
        p = rng.choice(plates)
        out.append(("exact", {"plate": p}))
        q = rng.choice(plates)
        pattern = f"{q[:3]}?{q[4]}*" if i % 2 == 0 else f"*{q[-4:]}"
        out.append(("partial", {"pattern": pattern}))
        out.append(("fuzzy", {"plate": rng.choice(plates).translate(_SWAP), "fuzzy": "true"}))
        cam = rng.choice(grid)
        assert cam.latitude is not None and cam.longitude is not None
        start = end - rng.uniform(3600, days * 86400)
        out.append(
            (
                "area",
                {
                    "lat": cam.latitude + rng.uniform(-0.002, 0.002),
                    "lon": cam.longitude + rng.uniform(-0.002, 0.002),
                    "radius_m": rng.choice((400, 600, 800)),
                    "from": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start)),
                    "to": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start + 3600)),
                },
            )
        )
    return out


def _search(client: httpx.Client, params: dict[str, Any]) -> tuple[float, int]:
    t = time.perf_counter()
    r = client.get("/api/v1/reads", params={**params, "purpose": PURPOSE, "case": CASE_NUMBER})
    ms = (time.perf_counter() - t) * 1000
    if r.status_code != 200:
        raise BenchError(f"a search was refused ({r.status_code}): {r.text[:300]}")
    return ms, len(r.json()["reads"])


@contextlib.contextmanager
def _phase(console: Console | None, what: str, total: int | None) -> Iterator[Callable[[int], None]]:
    with _progress(console) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)


def run_search_bench(
    reads: int,
    *,
    owner_url: str,
    database_url: str | None = None,
    redis_url: str | None = None,
    days: float = 30.0,
    searches: int = 100,
    json_out: Path | None = None,
    keep: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Measure and return the figures (and write them to `json_out`).

    `owner_url` makes, migrates and drops the scratch database; `database_url` (the application's
    role on the same server, default `owner_url`) serves the API instance; `redis_url` is its Redis
    (None: it starts an embedded one). `console`: where progress bars go (None: none shown).
    """
    if reads < 1 or searches < 1 or days <= 0:
        raise BenchError("reads, searches and days must be positive")
    with psycopg.connect(owner_url, autocommit=True, prepare_threshold=None) as probe:
        if is_pglite(probe):
            raise BenchError("bench search needs PostgreSQL: the API and the writer need connections at once")
    cfg = AccessConfig()
    key = Fernet.generate_key()
    password = secrets.token_urlsafe(18)
    grid = camera_grid()
    with contextlib.ExitStack() as stack:
        owner = stack.enter_context(_scratch_database(owner_url, keep))
        name = psycopg.conninfo.conninfo_to_dict(owner)["dbname"]
        app = psycopg.conninfo.make_conninfo(database_url or owner_url, dbname=name)
        migrate(owner)
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pw-bench-search-")))
        with psycopg.connect(owner, autocommit=True) as conn:
            for spec in grid:
                put_camera(conn, spec)
            with _phase(console, "accounts", 1) as advance:
                (person,) = _department(conn, cfg, key, password, 1, lambda: advance(1))
        with _phase(console, "synthetic reads", reads) as advance:
            plates, rows, end = _fill(app, reads, days, advance)
        with (
            _phase(console, "upkeep (gin pending lists, BRIN ranges, ANALYZE)", None),
            psycopg.connect(owner, autocommit=True) as conn,
        ):
            clean_gin_pending(conn)  # what the worker's hourly upkeep does (engine/store/jobs.py)
            summarize_brin(conn)
            conn.execute("ANALYZE")
            backend = store_backend(conn)
            texts = conn.execute("SELECT count(*) FROM plate_texts").fetchone()
        with _phase(console, "starting the API", None):
            (server,) = stack.enter_context(_instances(1, app, redis_url, work_dir, key))
        client = stack.enter_context(httpx.Client(base_url=server.url, timeout=120))
        _login(client, person, password)
        client.headers["Authorization"] = f"Bearer {person.token}"
        rng = random.Random(22)
        for _kind, params in _queries(rng, plates, _WARMUP, end, days, grid):
            _search(client, params)
        times: dict[str, list[float]] = {k: [] for k in KINDS}
        found: dict[str, int] = dict.fromkeys(KINDS, 0)
        queries = _queries(rng, plates, searches, end, days, grid)
        with _phase(console, "searches", len(queries)) as advance:
            for kind, params in queries:
                ms, n = _search(client, params)
                times[kind].append(ms)
                found[kind] += bool(n)
                advance(1)
    figures: dict[str, Any] = {"reads": rows}
    for kind in KINDS:
        p95 = percentile(times[kind], 0.95)
        figures[f"{kind}_p95_ms"] = round(p95, 2) if p95 is not None else None
    for kind in KINDS:
        p50 = percentile(times[kind], 0.50)
        figures[f"{kind}_p50_ms"] = round(p50, 2) if p50 is not None else None
        figures[f"{kind}_found_share"] = round(found[kind] / len(times[kind]), 3)
    figures.update(
        {
            "target_p95_ms": TARGET_P95_MS,
            "searches_per_kind": searches,
            "final_reads": reads,
            "days": days,
            "cameras": len(grid),
            "backend": backend,
            "plate_texts": texts[0] if texts else None,
        }
    )
    if json_out is not None:
        write_json(json_out, figures)
    return figures
