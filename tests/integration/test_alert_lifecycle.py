"""Alerts on the dispatcher's desk, on real PostgreSQL: stored once, stepped by the rules, raced,
streamed in offset order, and queued for the webhooks that take them."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from platewatch.codecs import Alert, Read
from platewatch.engine.alerts import lifecycle, records, stream
from platewatch.engine.alerts.lifecycle import Disposition, Step, StepConflict, StepError
from platewatch.engine.alerts.views import alert_view
from platewatch.engine.config.webhooks import WebhookConfig
from platewatch.engine.store.migrate import migrate

CAD = WebhookConfig(
    name="cad",
    url="http://127.0.0.1:9/hook",
    secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    recipient="department",
)


def make_alert(plate: str = "7ABC123", tier: str = "alert", crop: bytes | None = b"\xff\xd8jpeg") -> Alert:
    read = Read(
        read_id=str(uuid.uuid4()),
        camera_id="cam-1",
        time=time.time() - 1,
        plate=plate,
        confidence=0.93,
        pass_id=str(uuid.uuid4()),
        crop_jpeg=crop,
    )
    return Alert(
        alert_id=str(uuid.uuid4()),
        read=read,
        hotlist="stolen",
        entry=plate,
        match_kind="exact",
        score=1.0,
        priority=1,
        reason="stolen vehicle",
        time=time.time(),
        extra={"entry_key": f"stolen:{plate}", "candidate": plate, "list_imported_at": "1700000000"},
        tier=tier,
        evidence=0.99,
    )


@pytest.fixture
def db(database_url: str) -> psycopg.Connection:
    migrate(database_url)
    conn = psycopg.connect(database_url, autocommit=True)
    yield conn
    conn.close()


def test_store_is_idempotent_and_streams_one_raised_event(db: psycopg.Connection) -> None:
    a, b = make_alert(), make_alert("8XYZ999", tier="possible")
    first = records.store_alerts(
        db,
        [a, b],
        camera_sites={
            "cam-1": {"camera_name": "Main St", "camera_address": "Main St & 3rd", "direction": "towards"}
        },
        webhooks=[CAD],
    )
    again = records.store_alerts(
        db,
        [a, b],
        camera_sites={
            "cam-1": {"camera_name": "Main St", "camera_address": "Main St & 3rd", "direction": "towards"}
        },
        webhooks=[CAD],
    )
    assert [s.alert_id for s in first] == [a.alert_id, b.alert_id] and again == []
    assert [s.seq for s in first] == [1, 2]
    events = records.events_since(db, 0)
    assert [(e["seq"], e["kind"], e["alert_id"]) for e in events] == [
        (1, "raised", a.alert_id),
        (2, "raised", b.alert_id),
    ]
    assert events[0]["details"]["camera_name"] == "Main St" and events[0]["has_crop"]
    view = alert_view(events[0])
    assert (view["camera_address"], view["direction"]) == ("Main St & 3rd", "towards")
    assert records.crop(db, a.alert_id) == b"\xff\xd8jpeg"
    # only the confident alert goes to CAD: a possible match waits for a dispatcher's look
    queued = db.execute("SELECT alert_id, msg_id FROM webhook_deliveries").fetchall()
    assert queued == [(a.alert_id, "msg_pw_cad_1")]
    head = stream.head(db)
    assert (head.last_seq, head.first_seq) == (2, 1)
    assert stream.recoverable(head, head.epoch, 0) and not stream.recoverable(head, "other", 0)


def test_steps_follow_the_rules(db: psycopg.Connection) -> None:
    a = make_alert()
    records.store_alerts(db, [a])
    with pytest.raises(StepConflict, match="acknowledge it first"):
        lifecycle.take_step(db, a.alert_id, Step.VERIFY, actor="dana", note="NCIC confirms")
    with pytest.raises(StepError, match="needs a note"):
        lifecycle.take_step(db, a.alert_id, Step.VERIFY, actor="dana", note="  ")
    with pytest.raises(lifecycle.AlertNotFound):
        lifecycle.take_step(db, "nope", Step.ACKNOWLEDGE, actor="dana")
    ack = lifecycle.take_step(db, a.alert_id, Step.ACKNOWLEDGE, actor="dana")
    assert ack.changed and ack.alert["state"] == "acknowledged" and ack.alert["state_by"] == "dana"
    assert not lifecycle.take_step(db, a.alert_id, Step.ACKNOWLEDGE, actor="dana").changed  # a repeat
    with pytest.raises(StepConflict, match="only a verified"):
        lifecycle.set_disposition(db, a.alert_id, Disposition.ARREST, actor="dana")
    done = lifecycle.take_step(db, a.alert_id, Step.VERIFY, actor="dana", note="NCIC hit confirmed")
    assert done.alert["state"] == "verified" and done.alert["note"] == "NCIC hit confirmed"
    with pytest.raises(StepConflict, match="is verified by dana"):
        lifecycle.take_step(db, a.alert_id, Step.FALSE_HIT, actor="eve", note="reads 8 not B")
    lifecycle.set_disposition(db, a.alert_id, Disposition.VEHICLE_RECOVERED, actor="dana")
    with pytest.raises(StepConflict, match="already vehicle_recovered"):
        lifecycle.set_disposition(db, a.alert_id, Disposition.ARREST, actor="dana")
    kinds = [h["kind"] for h in records.history(db, a.alert_id)]
    assert kinds == ["raised", "acknowledged", "verified", "disposition"]


def test_two_dispatchers_at_once_one_wins(database_url: str, db: psycopg.Connection) -> None:
    a = make_alert()
    records.store_alerts(db, [a])
    lifecycle.take_step(db, a.alert_id, Step.ACKNOWLEDGE, actor="dana")
    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(2)

    def act(who: str, step: Step, note: str) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            barrier.wait()
            try:
                lifecycle.take_step(conn, a.alert_id, step, actor=who, note=note)
                outcomes[who] = "won"
            except StepConflict as exc:
                assert exc.alert is not None
                outcomes[who] = f"lost to {exc.alert['state']}"

    threads = [
        threading.Thread(target=act, args=("dana", Step.VERIFY, "NCIC confirms")),
        threading.Thread(target=act, args=("eve", Step.FALSE_HIT, "plate is 8 not B")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values())[0].startswith("lost to ") and "won" in outcomes.values()
    final = records.get_alert(db, a.alert_id)
    assert final is not None and final["state"] in {"verified", "false_hit"}
    assert len(records.history(db, a.alert_id)) == 3  # raised, acknowledged, one winner


def test_offsets_commit_in_order_under_concurrent_writers(database_url: str, db: psycopg.Connection) -> None:
    def writer() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            for _ in range(20):
                records.store_alerts(conn, [make_alert()])

    threads = [threading.Thread(target=writer) for _ in range(4)]
    seen: list[int] = []
    for t in threads:
        t.start()
    last = 0
    while any(t.is_alive() for t in threads) or last < 80:
        for e in records.events_since(db, last):
            seen.append(e["seq"])
            last = e["seq"]
    assert seen == list(range(1, 81))  # a follower never skips an offset that commits later


def test_stale_alerts_expire(db: psycopg.Connection) -> None:
    old, fresh = make_alert(), make_alert()
    records.store_alerts(db, [old, fresh])
    db.execute(
        "UPDATE alerts SET raised_at = now() - interval '2 hours' WHERE alert_id = %s", (old.alert_id,)
    )
    assert lifecycle.expire_stale(db, new_after_s=3600, acknowledged_after_s=7200) == 1
    assert records.get_alert(db, old.alert_id)["state"] == "expired"
    assert records.get_alert(db, fresh.alert_id)["state"] == "new"
    assert records.history(db, old.alert_id)[-1]["actor"] == "system"
