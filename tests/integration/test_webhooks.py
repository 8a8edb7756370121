"""Webhooks to real local HTTP receivers on real PostgreSQL: the signature verifies, failed attempts
are retried with growing delays under one webhook-id, a receiver that never answers well ends in
the dead-letter list, which an admin sees and re-queues through the API; every attempt that sends
data is in the access log first, and nothing is sent when the log cannot be written."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from api_server import serve_api
from policy_people import COURSE, KEY, PASSWORD, cheap_hashes, found_department
from prometheus_client import REGISTRY
from standardwebhooks import Webhook
from test_alert_lifecycle import make_alert

from platewatch.engine.alerts import records
from platewatch.engine.alerts.webhooks import ACTION, run_sender
from platewatch.engine.config import load_settings
from platewatch.engine.config.webhooks import WebhookConfig
from platewatch.engine.policy import access_log, training
from platewatch.engine.policy.roles import Role
from platewatch.engine.store.migrate import migrate

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ENV = {"PW_TEST_CAD_SECRET": SECRET}


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when the request arrived
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A CAD stand-in on a loopback port: answers 500 to the first `fail_first` requests (all of
    them while `fail_first` is None), then 200."""

    def __init__(self, fail_first: int | None = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.requests.append(
                    Received(time.monotonic(), {k.lower(): v for k, v in self.headers.items()}, body)
                )
                n = len(receiver.requests)
                failing = receiver.fail_first is None or n <= receiver.fail_first
                answer = b"receiver is down" if failing else b"ok"
                self.send_response(500 if failing else 200)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.requests]

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.requests]


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(fail_first: int | None = 0) -> Receiver:
        made.append(Receiver(fail_first))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def hook(name: str, url: str, **fields: Any) -> WebhookConfig:
    base: dict[str, Any] = {
        "name": name,
        "url": url,
        "secret": "${PW_TEST_CAD_SECRET}",
        "recipient": "department",
        "backoff_s": 0.2,
        "backoff_max_s": 5.0,
        "max_attempts": 5,
        "timeout_s": 2.0,
    }
    return WebhookConfig.model_validate(base | fields)


def deliveries(conn: psycopg.Connection, destination: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT alert_id, status, attempts, last_status, last_error, msg_id, delivered_at IS NOT NULL"
        " FROM webhook_deliveries WHERE destination = %s ORDER BY event_seq",
        (destination,),
    ).fetchall()


def send_until(
    database_url: str,
    hooks: Sequence[WebhookConfig],
    done: Callable[[psycopg.Connection], bool],
    timeout_s: float = 20.0,
    **options: Any,
) -> None:
    """Run the sender (as the worker does) until `done` holds, then stop it."""

    async def drive() -> None:
        stop = asyncio.Event()
        sender = asyncio.create_task(run_sender(database_url, hooks, stop, 0.02, env=ENV, **options))
        deadline = time.monotonic() + timeout_s
        with psycopg.connect(database_url, autocommit=True) as conn:
            try:
                while not await asyncio.to_thread(done, conn):
                    assert not sender.done(), sender.exception()
                    assert time.monotonic() < deadline, "the sender did not get there in time"
                    await asyncio.sleep(0.02)
            finally:
                stop.set()
                await asyncio.wait_for(sender, 10)

    asyncio.run(drive())


def all_settled(destination: str) -> Callable[[psycopg.Connection], bool]:
    def check(conn: psycopg.Connection) -> bool:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FROM webhook_deliveries"
            " WHERE destination = %s",
            (destination,),
        ).fetchone()
        assert row is not None
        return bool(row[1]) and row[0] == 0

    return check


def transfers(conn: psycopg.Connection) -> list[access_log.LogRow]:
    return list(reversed(access_log.query(conn, action=ACTION, limit=1000)))


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_failed_attempts_are_retried_with_growing_delays_and_every_one_verifies(
    db: psycopg.Connection, database_url: str, receivers: Callable[..., Receiver]
) -> None:
    cad = receivers(fail_first=2)
    agency = receivers()
    hooks = [
        hook("cad", cad.url),
        hook(
            "county",
            agency.url,
            recipient="public_agency",
            agency="County Sheriff",
            approval="DSR-2024-17",
            include_possible=True,
        ),
    ]
    sure, possible = make_alert(), make_alert("8XYZ999", tier="possible")
    records.store_alerts(
        db,
        [sure, possible],
        camera_sites={
            "cam-1": {"camera_name": "Main St", "camera_address": "Main St & 3rd", "direction": "towards"}
        },
        webhooks=hooks,
    )
    delivered_before = metric("platewatch_webhook_deliveries_total", destination="cad", outcome="delivered")
    failed_before = metric("platewatch_webhook_deliveries_total", destination="cad", outcome="failed")

    send_until(database_url, hooks, lambda c: all_settled("cad")(c) and all_settled("county")(c))

    # CAD: two 500s, then taken; the same message every time, each attempt signed afresh
    assert len(cad.requests) == 3
    assert cad.ids() == ["msg_pw_cad_1"] * 3
    assert len({r.body for r in cad.requests}) == 1
    for r in cad.requests:
        assert Webhook(SECRET).verify(r.body, r.headers)["data"]["alert"]["alert_id"] == sure.alert_id
        assert r.headers["content-type"] == "application/json"
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 32).verify(cad.requests[0].body, cad.requests[0].headers)
    body = cad.bodies()[0]
    assert body["type"] == "alert.raised"
    assert datetime.fromisoformat(body["timestamp"]) <= datetime.now(UTC)
    data = body["data"]
    assert (data["offset"], data["kind"]) == (1, "raised")
    assert data["alert"]["verification"] == "UNVERIFIED" and data["alert"]["camera_name"] == "Main St"
    # equal jitter: the n-th delay is at least half of backoff_s * 2**(n-1), so the gaps grow
    first_gap = cad.requests[1].at - cad.requests[0].at
    second_gap = cad.requests[2].at - cad.requests[1].at
    assert first_gap >= 0.1 and second_gap >= 0.2, (first_gap, second_gap)
    assert deliveries(db, "cad") == [(sure.alert_id, "delivered", 3, 200, None, "msg_pw_cad_1", True)]
    # a possible match does not leave for CAD; the agency asked for them (include_possible)
    assert [b["data"]["alert"]["alert_id"] for b in agency.bodies()] == [sure.alert_id, possible.alert_id]
    assert agency.ids() == ["msg_pw_county_1", "msg_pw_county_2"]

    rows = transfers(db)
    cad_rows = [r for r in rows if r.terms["destination"] == "cad"]
    assert [r.terms["attempt"] for r in cad_rows] == [1, 2, 3]
    assert all(r.returned_ids == (sure.alert_id,) and r.alert_id == sure.alert_id for r in cad_rows)
    assert cad_rows[0].terms | {"attempt": 0} == {
        "destination": "cad",
        "recipient": "department",
        "agency": None,
        "approval": None,
        "url": cad.url,
        "event": "raised",
        "msg_id": "msg_pw_cad_1",
        "attempt": 0,
    }
    county = [r for r in rows if r.terms["destination"] == "county"]
    assert [(r.terms["agency"], r.terms["approval"], r.returned_ids) for r in county] == [
        ("County Sheriff", "DSR-2024-17", (sure.alert_id,)),
        ("County Sheriff", "DSR-2024-17", (possible.alert_id,)),
    ]
    assert all(r.username == "webhook-sender" for r in rows)
    assert SECRET not in json.dumps([r.terms for r in rows])
    assert access_log.verify(db).ok
    assert metric("platewatch_webhook_deliveries_total", destination="cad", outcome="delivered") == (
        delivered_before + 1
    )
    assert (
        metric("platewatch_webhook_deliveries_total", destination="cad", outcome="failed")
        == failed_before + 2
    )
    assert metric("platewatch_webhook_delivery_seconds_count", destination="cad") >= 3


def test_a_receiver_that_keeps_failing_ends_dead_and_an_admin_requeues_it(
    db: psycopg.Connection,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    receivers: Callable[..., Receiver],
) -> None:
    cheap_hashes(monkeypatch)
    cad = receivers(fail_first=None)
    hooks = [hook("cad", cad.url, max_attempts=3, backoff_s=0.05)]
    alert = make_alert()
    records.store_alerts(db, [alert], webhooks=hooks)

    send_until(database_url, hooks, all_settled("cad"))
    assert len(cad.requests) == 3 and cad.ids() == ["msg_pw_cad_1"] * 3
    ((alert_id, status, attempts, last_status, last_error, _, delivered),) = deliveries(db, "cad")
    assert (alert_id, status, attempts, last_status, delivered) == (alert.alert_id, "dead", 3, 500, False)
    assert last_error == "HTTP 500: receiver is down"
    assert metric("platewatch_webhook_dead_letters", destination="cad") == 1

    settings = load_settings(
        data_dir=tmp_path,
        services={"database_url": database_url, "redis_url": redis_url},
        access={"mfa_required": False, "totp_secret_key": KEY.decode()},
        webhooks=[h.model_dump(mode="json") | {"secret": "${PW_TEST_CAD_SECRET}"} for h in hooks],
    )
    dept = found_department(db, settings.access)
    training.record_training(db, dept.cfg, dept.supervisor, "ada", COURSE, datetime.now(UTC))
    dept.add("ivy", Role.INVESTIGATOR)
    with serve_api(settings) as base, httpx.Client(base_url=base) as api:

        def bearer(username: str) -> dict[str, str]:
            r = api.post(
                "/api/v1/auth/login", json={"username": username, "password": PASSWORD, "client": "cli"}
            )
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['token']}"}

        admin = bearer("ada")
        assert api.get("/api/v1/webhooks/deliveries", headers=bearer("ivy")).status_code == 403
        head = access_log.head(db)
        assert head is not None
        r = api.get("/api/v1/webhooks/deliveries", params={"status": "dead"}, headers=admin)
        assert r.status_code == 200, r.text
        (dead,) = r.json()["deliveries"]
        assert (dead["alert_id"], dead["msg_id"], dead["attempts"], dead["configured"]) == (
            alert.alert_id,
            "msg_pw_cad_1",
            3,
            True,
        )
        assert dead["last_error"] == "HTTP 500: receiver is down"
        (row,) = [x for x in access_log.query(db, limit=10) if x.seq > head.seq]
        assert (row.action, row.username, row.returned_ids) == (
            "webhooks.deliveries",
            "ada",
            ("msg_pw_cad_1",),
        )
        assert api.get("/api/v1/webhooks/deliveries", params={"status": "pending"}, headers=admin).json() == {
            "deliveries": []
        }

        r = api.post(f"/api/v1/webhooks/deliveries/{dead['id']}/retry", headers=admin)
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["attempts"]) == ("pending", 0)
        again = api.post(f"/api/v1/webhooks/deliveries/{dead['id']}/retry", headers=admin)
        assert again.status_code == 409 and again.json()["detail"]["code"] == "not_dead"
        assert api.post("/api/v1/webhooks/deliveries/999999/retry", headers=admin).status_code == 404
        logged = [(x.action, x.outcome) for x in reversed(access_log.query(db, limit=10)) if x.seq > head.seq]
        assert logged[-3:] == [
            ("webhooks.retry", "allowed"),
            ("webhooks.retry", "refused"),
            ("webhooks.retry", "refused"),
        ]

    cad.fail_first = 0  # the receiver is fixed
    send_until(database_url, hooks, all_settled("cad"))
    assert cad.ids() == ["msg_pw_cad_1"] * 4
    assert Webhook(SECRET).verify(cad.requests[-1].body, cad.requests[-1].headers)
    assert deliveries(db, "cad")[0][1:4] == ("delivered", 1, 200)
    assert [r.terms["attempt"] for r in transfers(db)] == [1, 2, 3, 1]
    assert metric("platewatch_webhook_dead_letters", destination="cad") == 0


def test_nothing_leaves_while_the_access_log_cannot_be_written(
    db: psycopg.Connection, database_url: str, receivers: Callable[..., Receiver]
) -> None:
    cad = receivers()
    hooks = [hook("cad", cad.url)]
    alert = make_alert()
    records.store_alerts(db, [alert], webhooks=hooks)
    db.execute("ALTER TABLE access_log RENAME TO access_log_away")
    try:

        def held(conn: psycopg.Connection) -> bool:
            row = conn.execute("SELECT last_error FROM webhook_deliveries").fetchone()
            return row is not None and row[0] is not None

        send_until(database_url, hooks, held)
    finally:
        db.execute("ALTER TABLE access_log_away RENAME TO access_log")
    assert cad.requests == []
    ((_, status, attempts, _, last_error, _, _),) = deliveries(db, "cad")
    assert (status, attempts) == ("pending", 0)
    assert last_error.startswith("access log unavailable")

    send_until(database_url, hooks, all_settled("cad"), timeout_s=30)
    assert len(cad.requests) == 1
    assert deliveries(db, "cad")[0][1:5] == ("delivered", 1, 200, None)
    assert [r.terms["msg_id"] for r in transfers(db)] == ["msg_pw_cad_1"]


def test_unusable_secrets_and_removed_destinations_end_in_the_dead_letters(
    db: psycopg.Connection, database_url: str, receivers: Callable[..., Receiver]
) -> None:
    cad = receivers()
    unkeyed = hook("nokey", cad.url, secret="${PW_TEST_NOT_SET}", max_attempts=1)
    gone = hook("old", cad.url)
    records.store_alerts(db, [make_alert()], webhooks=[unkeyed, gone])

    send_until(
        database_url,
        [unkeyed],
        lambda c: all_settled("nokey")(c) and all_settled("old")(c),
        removed_grace_s=0,
    )
    assert cad.requests == [] and transfers(db) == []
    ((_, status, attempts, _, last_error, _, _),) = deliveries(db, "nokey")
    assert (status, attempts) == ("dead", 1)
    assert last_error == "webhook nokey's secret needs environment variable PW_TEST_NOT_SET, which is not set"
    ((_, status, attempts, _, last_error, _, _),) = deliveries(db, "old")
    assert (status, attempts, last_error) == ("dead", 0, "destination old is no longer configured")
