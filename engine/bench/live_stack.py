"""The real alert path on this machine, for `bench pipeline --api` and the camera-to-dispatcher test.

A camera's frames reach a dispatcher's screen through five processes: the worker (capture,
recognition, tracking, the `match` and `dispatch` agents), the broker between its agents, Redis
(the hotlist), PostgreSQL (the alerts table and its change stream) and the API (the websocket).
What is here starts the parts a test or bench needs around them and listens as a dispatcher does:

- `hotlist_plates`: entries in Redis under the shipped layout (`pw:hot:<list>:<plate>`), so the
  broker and Redis must be this run's own (a site's hotlist must never get a bench's plates);
- `worker_env` / `Worker`: `platewatch worker` as a child process with its cameras in the
  environment (`PLATEWATCH_CAMERAS`), exactly as a site runs it;
- `Feed`: a websocket client of `/api/v1/alerts/ws` that notes when each `raised` event arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

from platewatch.engine.config.camera import CameraSpec
from platewatch.engine.hotlist import admin
from platewatch.engine.hotlist.layout import Layout

#: The list the bench's and the test's plates go on.
HOTLIST = "stolen"


def hotlist_plates(redis_url: str, plates: Sequence[str], *, reason: str = "stolen vehicle") -> None:
    """List `plates` (priority 1) in the shipped layout, as `platewatch hotlist add` does."""
    client = redis.Redis.from_url(redis_url)
    try:
        for plate in plates:
            admin.add_entry(client, Layout(), HOTLIST, plate, {"reason": reason, "priority": "1"})
        client.hset(Layout().list_key(HOTLIST), "imported_at", str(int(time.time())))
    finally:
        client.close()


def worker_env(
    *,
    broker_url: str,
    database_url: str,
    redis_url: str,
    data_dir: Path,
    cameras: Sequence[CameraSpec],
    repeat_window_s: float = 2.0,
    **extra: str,
) -> dict[str, str]:
    """A worker's environment on these services, and nothing else of the caller's PLATEWATCH_*
    but its vision settings (`PLATEWATCH_VISION__*`: a bench of another precision or model).

    `repeat_window_s`: the demo video loops, and each loop's pass of a plate is a vehicle of its
    own; the shipped 30 s would fold the loops of a short video into one alert.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PLATEWATCH_") or k.startswith("PLATEWATCH_VISION__")
    }
    env.update(
        PLATEWATCH_DATA_DIR=str(data_dir),
        PLATEWATCH_SERVICES__BROKER_URL=broker_url,
        PLATEWATCH_SERVICES__BROKER_KIND="tansu",
        PLATEWATCH_SERVICES__DATABASE_URL=database_url,
        PLATEWATCH_SERVICES__REDIS_URL=redis_url,
        PLATEWATCH_KAFKA__APP_ID=f"pw-live-{uuid.uuid4().hex[:8]}",
        PLATEWATCH_KAFKA__PARTITIONS="2",
        PLATEWATCH_KAFKA__WEB_PORT="0",
        PLATEWATCH_LOGGING__LEVEL="INFO",
        PLATEWATCH_ALERTS__REPEAT_WINDOW_S=str(repeat_window_s),
        PLATEWATCH_CAMERAS=json.dumps([c.model_dump(mode="json", exclude_none=True) for c in cameras]),
    )
    env.update(extra)
    return env


@dataclass
class Worker:
    """`platewatch worker` as a child process, its output in `log`."""

    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "platewatch.engine", "worker"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def camera_health(redis_url: str, camera_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The worker's last published health of each camera (`pw:camera:<id>:health`, every 2 s)."""
    client = redis.Redis.from_url(redis_url)
    try:
        found = {cid: client.get(f"pw:camera:{cid}:health") for cid in camera_ids}
    finally:
        client.close()
    return {cid: json.loads(raw) for cid, raw in found.items() if isinstance(raw, bytes)}


def epoch_s(iso: str) -> float:
    """An alert view's ISO time as Unix seconds."""
    return datetime.fromisoformat(iso).timestamp()


@dataclass(frozen=True)
class Received:
    """One `raised` event as a dispatcher's client got it: when (this machine's clock) and what."""

    at: float
    alert: dict[str, Any]
    event_at: str  # when the dispatch agent's transaction stored it (the event's `at`)

    @property
    def read_time(self) -> float:
        return epoch_s(self.alert["read_time"])

    @property
    def raised_at(self) -> float:
        return epoch_s(self.alert["raised_at"])

    @property
    def stored_at(self) -> float:
        return epoch_s(self.event_at)


@dataclass
class Feed:
    """A dispatcher's websocket: every `raised` event, as received (no de-duplication).

    With `reconnect` it comes back as a dispatcher's page does when the server ends the connection
    (an API restart), asking for a replay from the last offset it saw; replayed events count as
    received like any other, so a replay that repeats an alert shows as a duplicate.
    """

    api_url: str
    token: str
    raised: list[Received] = field(default_factory=list)
    hello: dict[str, Any] | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    reconnect: bool = False
    offset: int | None = None
    epoch: str | None = None
    reconnects: int = 0
    not_recovered: int = 0  # reconnections whose hello said the replay was not possible
    replayed: int = 0
    closes: list[tuple[float, str]] = field(default_factory=list)
    up: bool = False

    def _url(self) -> str:
        url = self.api_url.replace("http://", "ws://") + "/api/v1/alerts/ws"
        if self.offset is not None and self.epoch is not None:
            url += f"?offset={self.offset}&epoch={self.epoch}"
        return url

    async def listen(self) -> None:
        """Until cancelled; the time of a message is taken when it is decoded, before anything else."""
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self.reconnect or not self.connected.is_set():
                    raise
                self.closes.append((time.time(), f"{type(exc).__name__}: {exc}"[:160]))
            else:
                if not self.reconnect:
                    return
                self.closes.append((time.time(), "closed by the server"))
            self.up = False
            await asyncio.sleep(0.5)

    async def _session(self) -> None:
        import websockets

        headers = {"Authorization": f"Bearer {self.token}"}
        again = self.offset is not None
        async with websockets.connect(self._url(), additional_headers=headers, compression="deflate") as ws:
            hello = json.loads(await ws.recv())
            if hello.get("type") != "hello":
                raise RuntimeError(f"the alert feed refused the dispatcher: {hello}")
            self.hello, self.epoch, self.up = hello, str(hello["epoch"]), True
            if again:
                self.reconnects += 1
                self.not_recovered += not hello.get("recovered")
            if not again or not hello.get("recovered"):
                self.offset = int(hello["offset"])
            self.connected.set()
            replaying = again and bool(hello.get("recovered"))
            async for raw in ws:
                now = time.time()
                msg = json.loads(raw)
                kind = msg.get("type")
                events = msg["events"] if kind == "batch" else [msg] if kind == "event" else []
                for event in events:
                    if "offset" in event:
                        self.offset = int(event["offset"])
                    if event.get("kind") == "raised":
                        self.raised.append(Received(now, event["alert"], event["at"]))
                        self.replayed += replaying
                if kind == "replayed":
                    replaying = False

    async def wait_for(self, count: int, timeout_s: float, alive: Any = None) -> bool:
        """Whether `count` raised events arrived within `timeout_s` (`alive()` False stops early)."""
        deadline = time.monotonic() + timeout_s
        while len(self.raised) < count:
            if time.monotonic() > deadline or (alive is not None and not alive()):
                return False
            await asyncio.sleep(0.1)
        return True


@contextlib.asynccontextmanager
async def listening(feed: Feed, timeout_s: float = 30.0) -> Any:
    """`feed` listening in a task of its own for the duration of the block."""
    task = asyncio.create_task(feed.listen())
    connected = asyncio.create_task(feed.connected.wait())
    try:
        done, _ = await asyncio.wait(
            [task, connected], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()  # its error
        if not feed.connected.is_set():
            raise RuntimeError(f"the alert feed did not answer within {timeout_s:.0f} s")
        yield feed
    finally:
        connected.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
