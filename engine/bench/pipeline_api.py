"""`platewatch bench pipeline --api`: frame captured → alert on a dispatcher's websocket, the real path.

The in-process bench (`pipeline.py`) stops at the provisional read. Here every hop a site has is
in the loop, each its own process as `platewatch up` runs them: a `platewatch worker` whose cameras
play the demo video (capture, recognition, tracking, the `match` agent against a hotlist holding
every plate of the video, the `dispatch` agent storing the alert), a tansu broker and a Redis of
this run's own, a scratch database on the configured (or embedded) PostgreSQL, one `platewatch api`
process, and a trained dispatcher (TOTP enrolled, logged in) whose websocket is open before the
first frame. For each `raised` event the client notes the arrival time on this machine's clock:

- `ws_latency_p50_ms` / `_p95_ms`: arrival − the alert's `read_time`. `read_time` is the capture
  time of the frame the provisional read took its best observation from: the first frame the plate
  was read in, or a later one when a later frame read it more confidently (the tracker keeps the
  best), so by up to the frames it took to make the read provisional (one at the shipped
  `provisional_min_reads` of 2). The in-process bench's `alert_latency_*` counts from the first
  frame; the gap is measured there as `provisional_frame_lag_p95_ms`.
- where the time goes, each segment's own percentiles (they do not add up to the whole; only
  `ws_latency_*` is the end-to-end figure): `frame_to_raised_*` (frame → the match agent raised
  the alert: recognition, tracking, pw.reads), `raised_to_stored_*` (→ the dispatch agent's
  transaction began: pw.alerts), `stored_to_ws_*` (→ arrival: commit, the API's change stream,
  the websocket).
- `frames_per_s`: frames the worker recognised per second in the window, all cameras (from the
  health each camera publishes to Redis every 2 s); below cameras × fps, the worker is saturated.
- `ws_alerts`: raised events received in the measuring window; `passes`: the video's passes whose
  read fell in it; `ws_lost`: passes without an alert; `ws_duplicated`: extra alerts of one pass
  (counted as received); `ws_unmatched`: alerts that fit no pass.

Measuring starts a second after the first alert (the worker's start, the models' compilation and
the first rebalance are not the path) and lasts `seconds`; alerts of passes read in the window
still count when they arrive up to `DRAIN_S` after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from cryptography.fernet import Fernet

from platewatch.engine.config.access import AccessConfig
from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.services import start_embedded_broker, start_embedded_redis
from platewatch.engine.store.migrate import migrate

from .audit import BenchError, _instances, percentile
from .dispatch import _dispatcher, _login
from .live_stack import Feed, Received, Worker, camera_health, hotlist_plates, listening, worker_env
from .store import _scratch_database

if TYPE_CHECKING:
    from .demo import DemoVideo

#: How long the first alert may take: the worker starts, compiles the models, joins the group.
FIRST_ALERT_TIMEOUT_S = 240.0
DRAIN_S = 3.0
WARM_S = 1.0


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _ms(values: Sequence[float], q: float) -> float | None:
    found = percentile(values, q)
    return None if found is None else round(found, 1)


def score(
    video: DemoVideo, received: Sequence[Received], t0: float, t1: float
) -> tuple[dict[str, int], list[Received]]:
    """Match each camera's alerts to the passes of its looped video; returns the counts and the
    first alert of each pass read within [t0, t1] (the ones whose latency is reported).

    The worker's media clock is not visible from here, so each camera's phase is estimated from its
    own alerts: read_time − the pass's enter time, taken modulo the video's length, median.
    """
    length = video.seconds
    enter = {p.plate: (i, p.enter_s) for i, p in enumerate(video.passes)}
    counts = {"passes": 0, "ws_lost": 0, "ws_duplicated": 0, "ws_unmatched": 0}
    firsts: list[Received] = []
    cameras = sorted({r.alert["camera_id"] for r in received})
    for camera in cameras:
        mine = [r for r in received if r.alert["camera_id"] == camera]
        known = [(r, *enter[r.alert["entry"]]) for r in mine if r.alert["entry"] in enter]
        counts["ws_unmatched"] += sum(
            1 for r in mine if r.alert["entry"] not in enter and t0 <= r.read_time <= t1
        )
        if not known:
            continue
        offsets = [r.read_time - e for r, _, e in known]
        ref = offsets[0]
        phase = ref + statistics.median(((d - ref + length / 2) % length) - length / 2 for d in offsets)
        got: dict[tuple[int, int], list[Received]] = {}
        for (r, i, _), d in zip(known, offsets, strict=True):
            loop = round((d - phase) / length)
            if abs(d - phase - loop * length) > 2.0:  # no pass of this plate was on screen then
                if t0 <= r.read_time <= t1:
                    counts["ws_unmatched"] += 1
                continue
            got.setdefault((loop, i), []).append(r)
        first_loop = int((t0 - phase) // length) - 1
        last_loop = int((t1 - phase) // length) + 1
        for loop in range(first_loop, last_loop + 1):
            for i, p in enumerate(video.passes):
                if not t0 <= phase + loop * length + p.enter_s <= t1:
                    continue
                counts["passes"] += 1
                alerts = got.get((loop, i), [])
                if not alerts:
                    counts["ws_lost"] += 1
                    continue
                counts["ws_duplicated"] += len(alerts) - 1
                firsts.append(min(alerts, key=lambda r: r.at))
    return counts, firsts


@dataclass
class Window:
    t0: float = 0.0
    t1: float = 0.0
    health0: dict[str, dict[str, Any]] = field(default_factory=dict)
    health1: dict[str, dict[str, Any]] = field(default_factory=dict)

    def frames_per_s(self) -> float | None:
        """Frames recognised per second between the two health snapshots, all cameras."""
        frames = spans = 0.0
        for cid, end in self.health1.items():
            start = self.health0.get(cid)
            if start is None or end["at"] <= start["at"]:
                return None
            frames += end["frames_processed"] - start["frames_processed"]
            spans = max(spans, end["at"] - start["at"])
        return round(frames / spans, 2) if spans else None


async def _listen(feed: Feed, worker: Worker, seconds: float, redis_url: str, cameras: list[str]) -> Window:
    """Start the worker with the dispatcher listening; returns the measuring window."""
    window = Window()
    async with listening(feed):
        worker.start()
        if not await feed.wait_for(1, FIRST_ALERT_TIMEOUT_S, worker.alive):
            why = "exited" if not worker.alive() else f"raised no alert within {FIRST_ALERT_TIMEOUT_S:.0f} s"
            raise BenchError(f"the worker {why}:\n{worker.tail()}")
        window.t0 = feed.raised[0].at + WARM_S
        await asyncio.sleep(max(0.0, window.t0 - time.time()))
        window.health0 = await asyncio.to_thread(camera_health, redis_url, cameras)
        await asyncio.sleep(seconds)
        window.t1 = time.time()
        window.health1 = await asyncio.to_thread(camera_health, redis_url, cameras)
        await asyncio.sleep(DRAIN_S)
        if not worker.alive():
            raise BenchError(f"the worker exited during the run:\n{worker.tail()}")
        return window


def run_api_path(
    cameras: int,
    seconds: float,
    video: DemoVideo,
    fps: float,
    *,
    owner_url: str,
    database_url: str | None = None,
    keep: bool = False,
) -> tuple[dict[str, Any], list[float], list[dict[str, Any]]]:
    """The figures, every alert's websocket latency, and one summary per camera.

    `owner_url` makes, migrates and drops the scratch database; `database_url` (the application's
    role on that server, default `owner_url`) serves the worker and the API.
    """
    key = Fernet.generate_key()
    password = secrets.token_urlsafe(18)
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pw-bench-pipeline-")))
        owner = stack.enter_context(_scratch_database(owner_url, keep))
        name = psycopg.conninfo.conninfo_to_dict(owner)["dbname"]
        app = psycopg.conninfo.make_conninfo(database_url or owner_url, dbname=name)
        migrate(owner)
        broker = stack.enter_context(start_embedded_broker(work / "broker", "127.0.0.1", 0, 30.0))
        hot = start_embedded_redis(work / "redis", "127.0.0.1", 0, 30.0)
        stack.callback(hot.stop)
        hotlist_plates(hot.url, sorted({p.plate for p in video.passes}))
        with psycopg.connect(app, autocommit=True) as conn:
            totp = _dispatcher(conn, AccessConfig(), key, password)
        (api,) = stack.enter_context(_instances(1, app, hot.url, work, key))
        feed = Feed(api.url, _login(api.url, password, totp))
        specs = [
            CameraSpec(id=f"bench-{n}", name=f"Bench camera {n}", url=str(video.path), fps=fps)
            for n in range(cameras)
        ]
        env = worker_env(
            broker_url=broker.url,
            database_url=app,
            redis_url=hot.url,
            data_dir=work / "worker",
            cameras=specs,
        )
        worker = Worker(env, work / "worker.log")
        stack.callback(worker.stop)
        cpu_api = _cpu_s(api.proc.pid)
        window = asyncio.run(_listen(feed, worker, seconds, hot.url, [spec.id for spec in specs]))
        t0, t1 = window.t0, window.t1
        assert worker.proc is not None
        cpu_worker, cpu_api_end = _cpu_s(worker.proc.pid), _cpu_s(api.proc.pid)
    counts, firsts = score(video, feed.raised, t0, t1)
    latencies = [(r.at - r.read_time) * 1000 for r in firsts]
    worker_ms = [(r.raised_at - r.read_time) * 1000 for r in firsts]
    queue_ms = [(r.stored_at - r.raised_at) * 1000 for r in firsts]
    deliver_ms = [(r.at - r.stored_at) * 1000 for r in firsts]
    per_camera = []
    for spec in specs:
        mine = [(r.at - r.read_time) * 1000 for r in firsts if r.alert["camera_id"] == spec.id]
        per_camera.append(
            {
                "id": spec.id,
                "alerts": len(mine),
                "latency_p50_ms": _ms(mine, 0.5),
                "latency_p95_ms": _ms(mine, 0.95),
            }
        )
    elapsed = t1 - t0
    figures: dict[str, Any] = {
        "path": "camera → worker (recognize, track, match, dispatch) → broker → PostgreSQL → API → websocket",
        "cameras": cameras,
        "seconds": round(elapsed, 1),
        "resolution": f"{video.width}x{video.height}",
        "camera_fps": fps,
        "ws_alerts": len(firsts),
        "ws_latency_p50_ms": _ms(latencies, 0.5),
        "ws_latency_p95_ms": _ms(latencies, 0.95),
        "ws_latency_max_ms": round(max(latencies), 1) if latencies else None,
        "frame_to_raised_p50_ms": _ms(worker_ms, 0.5),
        "frame_to_raised_p95_ms": _ms(worker_ms, 0.95),
        "raised_to_stored_p50_ms": _ms(queue_ms, 0.5),
        "raised_to_stored_p95_ms": _ms(queue_ms, 0.95),
        "stored_to_ws_p50_ms": _ms(deliver_ms, 0.5),
        "stored_to_ws_p95_ms": _ms(deliver_ms, 0.95),
        "frames_per_s": window.frames_per_s(),
        **counts,
        # from the worker's start: its models' compilation is in it
        "worker_cpu_s": round(cpu_worker, 1) if cpu_worker is not None else None,
        "api_cpu_s": (
            round(cpu_api_end - cpu_api, 1) if cpu_api is not None and cpu_api_end is not None else None
        ),
        "cpus": os.cpu_count(),
        "load_1m": round(os.getloadavg()[0], 2),
    }
    return figures, latencies, per_camera
