"""The live alert feed over real websockets, two real API processes' worth of uvicorn servers, and
real PostgreSQL: every client of every instance gets every change once and in order; a client that
reconnects with its offset gets what it missed; a client that stops reading is cut off (4408)
without stalling the others; refusals close with 4401/4403 and are logged; REST steps race safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import websockets
from api_server import serve_api
from policy_people import KEY, PASSWORD, cheap_hashes, found_department
from test_alert_lifecycle import make_alert

from platewatch.engine.alerts import records
from platewatch.engine.config import load_settings
from platewatch.engine.policy import access_log
from platewatch.engine.policy.roles import Role
from platewatch.engine.store.migrate import migrate


class Desk:
    def __init__(self, urls: list[str], conn: psycopg.Connection) -> None:
        self.urls = urls
        self.conn = conn

    def token(self, username: str, url: str | None = None) -> str:
        r = httpx.post(
            f"{url or self.urls[0]}/api/v1/auth/login",
            json={"username": username, "password": PASSWORD, "client": "cli"},
        )
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    def ws_url(self, i: int = 0, **params: Any) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
        return self.urls[i].replace("http://", "ws://") + "/api/v1/alerts/ws" + (f"?{query}" if query else "")

    def raise_alerts(self, n: int, reason: str = "stolen vehicle") -> list[str]:
        alerts = [dataclasses.replace(make_alert(f"7AB{i:04d}"), reason=reason) for i in range(n)]
        records.store_alerts(self.conn, alerts)
        return [a.alert_id for a in alerts]


@pytest.fixture
def desk(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Desk]:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn, ExitStack() as stack:
        settings = load_settings(
            data_dir=tmp_path,
            services={"database_url": database_url, "redis_url": redis_url},
            access={"mfa_required": False, "totp_secret_key": KEY.decode()},
            alerts={"ws_queue": 5000, "ws_send_timeout_s": 2.0, "ws_heartbeat_s": 1.0},
        )
        dept = found_department(conn, settings.access)
        dept.add("dana", Role.DISPATCHER)
        dept.add("eve", Role.DISPATCHER)
        dept.add("ivy", Role.INVESTIGATOR)
        dept.add("una", Role.DISPATCHER, trained=False)
        urls = [stack.enter_context(serve_api(settings)) for _ in range(2)]
        yield Desk(urls, conn)


async def _connect(url: str, token: str, **kw: Any) -> Any:
    return await websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}, **kw)


async def _collect(ws: Any, want: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len([g for g in got if g["type"] == "event"]) < want:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(got)} messages of {want}: {got[-3:]}"
        msg = json.loads(await asyncio.wait_for(ws.recv(), left))
        if msg["type"] == "batch":
            got.extend(msg["events"])
        elif msg["type"] != "heartbeat":
            got.append(msg)
    return got


def test_every_client_of_both_instances_gets_each_change_once_in_order(desk: Desk) -> None:
    async def run() -> None:
        tokens = [desk.token("dana"), desk.token("eve")]
        clients = [await _connect(desk.ws_url(i % 2), tokens[i % 2]) for i in range(4)]
        hellos = [json.loads(await c.recv()) for c in clients]
        assert all(h["type"] == "hello" and not h["recovered"] for h in hellos)
        ids = await asyncio.to_thread(desk.raise_alerts, 15)
        results = await asyncio.gather(*(_collect(c, 15) for c in clients))
        for got in results:
            events = [m for m in got if m["type"] == "event"]
            assert [e["alert"]["alert_id"] for e in events] == ids
            offsets = [e["offset"] for e in events]
            assert offsets == sorted(offsets) and len(set(offsets)) == 15
            assert {e["alert"]["verification"] for e in events} == {"UNVERIFIED"}
        # a step taken through one instance reaches the clients of the other
        r = httpx.post(
            f"{desk.urls[1]}/api/v1/alerts/{ids[0]}/acknowledge",
            headers={"Authorization": f"Bearer {tokens[1]}"},
        )
        assert r.status_code == 200 and r.json()["alert"]["state"] == "acknowledged", r.text
        for c in clients:
            (change,) = [m for m in await _collect(c, 1) if m["type"] == "event"]
            assert (change["kind"], change["alert"]["state_by"]) == ("acknowledged", "eve")
        for c in clients:
            await c.close()

    asyncio.run(run())
    deadline = time.monotonic() + 10  # written by the server as each socket closes
    while len(delivered := access_log.query(desk.conn, action="alerts.feed.delivered", limit=100)) < 4:
        assert time.monotonic() < deadline, delivered
        time.sleep(0.1)
    assert delivered and {r.username for r in delivered} == {"dana", "eve"}
    assert max(r.returned_count for r in delivered) >= 15


def test_a_client_that_reconnects_with_its_offset_gets_what_it_missed(desk: Desk) -> None:
    async def run() -> None:
        token = desk.token("dana")
        ws = await _connect(desk.ws_url(0), token)
        hello = json.loads(await ws.recv())
        first = await asyncio.to_thread(desk.raise_alerts, 3)
        seen = [m for m in await _collect(ws, 3) if m["type"] == "event"]
        await ws.close()
        missed = await asyncio.to_thread(desk.raise_alerts, 4)  # while it is away
        last = seen[-1]["offset"]
        ws = await _connect(desk.ws_url(1, offset=last, epoch=hello["epoch"]), token)  # the other instance
        again = json.loads(await ws.recv())
        assert again["recovered"] and again["epoch"] == hello["epoch"]
        got = await _collect(ws, 4)
        assert [m["alert"]["alert_id"] for m in got if m["type"] == "event"] == missed
        done = json.loads(await asyncio.wait_for(ws.recv(), 5))
        while done["type"] == "heartbeat":
            done = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert done == {"type": "replayed", "count": 4, "offset": got[-1]["offset"]}
        await ws.close()
        # another history (a rebuilt database): the client is told the gap cannot be filled
        ws = await _connect(desk.ws_url(0, offset=last, epoch="not-this-one"), token)
        assert json.loads(await ws.recv())["recovered"] is False
        await ws.close()
        assert [s["alert"]["alert_id"] for s in seen] == first

    asyncio.run(run())


def test_a_client_that_stops_reading_is_cut_off_and_the_others_are_not_held_up(desk: Desk) -> None:
    async def run() -> None:
        token = desk.token("dana")
        url = desk.ws_url(0)
        host, port = url.split("//")[1].split("/")[0].split(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: no autotuning
        sock.connect((host, int(port)))
        slow = await _connect(url, token, sock=sock, max_queue=1)
        await slow.recv()
        fast = await _connect(url, token)
        await fast.recv()
        n = 2000  # ~4 kB each: more than the server's socket buffers hold
        begun = time.monotonic()
        await asyncio.to_thread(desk.raise_alerts, n, secrets.token_urlsafe(4000))  # incompressible
        got = await _collect(fast, n, timeout_s=60)
        assert len([m for m in got if m["type"] == "event"]) == n
        assert time.monotonic() - begun < 60
        await asyncio.sleep(4)  # the slow one has read nothing for twice ws_send_timeout_s
        received = 0
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for received in range(n + 10):  # noqa: B007 - counted for the message below
                await asyncio.wait_for(slow.recv(), 10)
        assert received < n, "the stalled client was never cut off"
        assert closed.value.rcvd is None or closed.value.rcvd.code == 4408
        await fast.close()

    asyncio.run(run())
    assert _metric("platewatch_ws_disconnects_total", reason="too_slow") >= 1


def _metric(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_client_that_floods_the_feed_is_closed_and_the_others_go_on(desk: Desk) -> None:
    async def run() -> None:
        token = desk.token("dana")
        flooder = await _connect(desk.ws_url(0), token)
        big = await _connect(desk.ws_url(0), token)
        calm = await _connect(desk.ws_url(0), token)
        for ws in (flooder, big, calm):
            await ws.recv()  # hello
        for i in range(200):  # far past a ping now and then
            with contextlib.suppress(websockets.ConnectionClosed):
                await flooder.send(json.dumps({"type": "ping", "n": i}))
        with contextlib.suppress(websockets.ConnectionClosed):
            await big.send("x" * 100_000)
        for ws in (flooder, big):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        ids = await asyncio.to_thread(desk.raise_alerts, 3)
        got = await _collect(calm, 3)
        assert [m["alert"]["alert_id"] for m in got if m["type"] == "event"] == ids
        await calm.close()

    before = _metric("platewatch_ws_disconnects_total", reason="flood")
    asyncio.run(run())
    assert _metric("platewatch_ws_disconnects_total", reason="flood") == before + 2


def test_refusals_close_with_a_readable_code_and_are_logged(desk: Desk) -> None:
    async def code_of(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        async with websockets.connect(url, additional_headers=headers or {}) as ws:
            first = json.loads(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None
            return closed.value.rcvd.code, first

    async def run() -> None:
        assert (await code_of(desk.ws_url()))[0] == 4401
        bogus = {"Authorization": "Bearer pw_not_a_token"}
        assert (await code_of(desk.ws_url(), bogus))[0] == 4401
        code, msg = await code_of(desk.ws_url(), {"Authorization": f"Bearer {desk.token('ivy')}"})
        assert (code, msg["code"]) == (4403, "role")
        code, msg = await code_of(desk.ws_url(), {"Authorization": f"Bearer {desk.token('una')}"})
        assert (code, msg["code"]) == (4403, "training")

    asyncio.run(run())
    refused = access_log.query(desk.conn, action="alerts.feed", limit=50)
    assert {(r.username, r.outcome) for r in refused} >= {("ivy", "refused"), ("una", "refused")}


def test_rest_steps_show_unverified_until_verified_and_refuse_a_skipped_step(desk: Desk) -> None:
    (aid,) = desk.raise_alerts(1)
    dana = {"Authorization": f"Bearer {desk.token('dana')}"}
    eve = {"Authorization": f"Bearer {desk.token('eve')}"}
    base = f"{desk.urls[0]}/api/v1/alerts"
    listed = httpx.get(base, params={"state": "open"}, headers=dana).json()
    assert [a["verification"] for a in listed["alerts"]] == ["UNVERIFIED"] and listed["offset"] >= 1
    r = httpx.post(f"{base}/{aid}/verify", json={"note": "NCIC hit"}, headers=dana)
    assert r.status_code == 409 and "acknowledge it first" in r.json()["detail"]["message"]
    r = httpx.post(f"{base}/{aid}/acknowledge", headers=dana)
    assert r.status_code == 200
    r = httpx.post(f"{base}/{aid}/verify", json={}, headers=dana)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "note_required"
    r = httpx.post(f"{base}/{aid}/verify", json={"note": "CLETS: stolen, confirmed"}, headers=dana)
    assert r.status_code == 200 and r.json()["alert"]["verification"] == "VERIFIED"
    r = httpx.post(f"{base}/{aid}/false-hit", json={"reason": "reads 8 not B"}, headers=eve)
    assert r.status_code == 409 and r.json()["detail"]["alert"]["state_by"] == "dana"
    r = httpx.post(f"{base}/{aid}/disposition", json={"disposition": "arrest"}, headers=dana)
    assert r.status_code == 200 and r.json()["alert"]["disposition"] == "arrest"
    one = httpx.get(f"{base}/{aid}", headers=eve).json()
    assert [h["kind"] for h in one["history"]] == ["raised", "acknowledged", "verified", "disposition"]
    crop = httpx.get(f"{base}/{aid}/crop", headers=eve)
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    rows = access_log.query(desk.conn, action="alerts.verify", limit=10)
    assert [(r.username, r.outcome) for r in reversed(rows)][-2:] == [
        ("dana", "refused"),
        ("dana", "allowed"),
    ]
    assert rows[0].alert_id == aid and rows[0].purpose == "alert verification"
