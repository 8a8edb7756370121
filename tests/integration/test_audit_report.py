"""Audits (policy 462.4(c)) on PostgreSQL: the report's figures against a seeded access log (exact
counts), the review sample never assigned to the searcher, a review recorded once, the schedule's
overdue flag, and notifications for a bulk search and an out-of-hours spike.

The seeded rows are inserted with the times the test needs (February 2025, America/Los_Angeles:
1 Feb is a Saturday), which `access_log.append` cannot do (it stamps the database's clock); the
report reads columns, not the hash chain, so the rows' hashes are placeholders.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
import redis
from policy_people import Department, cheap_hashes, found_department
from psycopg.types.json import Jsonb

from platewatch.engine.config import load_settings
from platewatch.engine.config.audit import AuditConfig
from platewatch.engine.hotlist.layout import Layout
from platewatch.engine.policy import audit_sample, audit_schedule, audit_watch
from platewatch.engine.policy.audit_render import render_csv, render_html
from platewatch.engine.policy.audit_report import build_report
from platewatch.engine.policy.directory import get_user
from platewatch.engine.policy.errors import NotPermitted
from platewatch.engine.policy.roles import Role
from platewatch.engine.store import migrate

LA = ZoneInfo("America/Los_Angeles")
FEB = (datetime(2025, 2, 1, tzinfo=LA).astimezone(UTC), datetime(2025, 3, 1, tzinfo=LA).astimezone(UTC))
CASE = "25-000123"


def local(day: int, hour: int, minute: int = 0, month: int = 2) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=LA).astimezone(UTC)


class Log:
    """Inserts access-log rows at chosen times, numbered as the log numbers them."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.ids: dict[str, int | None] = {
            name: uid for uid, name in conn.execute("SELECT user_id, username FROM users").fetchall()
        }

    def add(
        self,
        at: datetime,
        username: str,
        action: str,
        *,
        n: int = 1,
        organisation: str = "PAPD",
        person: bool = True,
        terms: dict[str, Any] | None = None,
        case: str | None = CASE,
        outcome: str = "allowed",
        reason: str | None = None,
        returned: int = 3,
    ) -> list[int]:
        seqs = []
        for i in range(n):
            row = self.conn.execute(  # the log's own sequence where it has one (numbers never reused)
                "SELECT coalesce(nextval(pg_get_serial_sequence('access_log', 'seq')),"
                " (SELECT coalesce(max(seq), 0) + 1 FROM access_log))"
            ).fetchone()
            assert row is not None
            seq = int(row[0])
            self.conn.execute(
                "INSERT INTO access_log (seq, time, user_id, username, organisation, action, terms, purpose,"
                " case_number, outcome, reason, returned_count, prev_hash, hash)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    seq,
                    at + timedelta(seconds=i),
                    self.ids.get(username) if person else None,
                    username,
                    organisation,
                    action,
                    Jsonb(terms or {}),
                    "criminal investigation" if case else None,
                    case,
                    outcome,
                    reason,
                    returned,
                    bytes(32),
                    bytes(32),
                ),
            )
            seqs.append(seq)
        return seqs


@pytest.fixture
def dept(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Department]:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        d = found_department(conn)
        d.add("ivy", Role.INVESTIGATOR)
        d.add("ken", Role.INVESTIGATOR)
        d.add("sue", Role.SUPERVISOR, Role.INVESTIGATOR)
        d.add("li", Role.INVESTIGATOR, trained=False)  # never trained: lapsed
        yield d


def seed_february(log: Log) -> None:
    """The seeded month; the expected figures are in the test below."""
    mon = 3  # Monday 3 Feb 2025
    log.add(local(mon, 10), "ivy", "reads.search", n=5, terms={"plate": "7ABC123"})
    log.add(local(mon, 11), "ivy", "reads.search", n=3, terms={"pattern": "7AB*"})
    log.add(local(mon, 12), "ivy", "reads.search", n=2, terms={"plate": "7ABC123", "fuzzy": True})
    log.add(local(mon + 1, 10), "ivy", "reads.search", case=None, terms={"plate": "8XYZ999"})  # no case
    log.add(local(8, 12), "ken", "reads.search", n=4, organisation="SCSO")  # Saturday: out of hours
    log.add(local(5, 23, 30), "ken", "reads.search", n=2, organisation="SCSO")  # Wednesday night
    log.add(local(6, 9), "ken", "reads.search", organisation="SCSO", returned=900)  # bulk
    log.add(local(6, 10), "sam", "audit.log", case=None, returned=900)  # reading the log: not bulk
    log.add(local(6, 9), "li", "reads.search", outcome="refused", reason="training: no current ALPR training")
    log.add(local(7, 9), "ivy", "login", n=3, case=None, outcome="refused", reason="wrong password or code")
    log.add(local(7, 9, 5), "ivy", "login.lockout", case=None, outcome="refused", reason="locked")
    log.add(local(7, 10), "ada", "user.create", case=None, terms={"user": "newbie"})
    log.add(
        local(7, 10, 5), "sam", "role.approve", case=None, terms={"user": "newbie", "role": "investigator"}
    )
    log.add(local(10, 10), "ivy", "evidence.export", n=2, returned=40)
    log.add(local(10, 11), "sam", "sharing.release", returned=12)
    log.add(local(10, 12), "platewatch:webhooks", "webhook.transfer", n=3, person=False, returned=1)
    log.add(local(11, 12), "redis", "hotlist change", n=2, person=False, case=None)
    # outside the month: never counted
    log.add(local(31, 12, month=1), "ivy", "reads.search", n=7, case=None, returned=5000)
    log.add(local(1, 0, 0, month=3), "ivy", "reads.search", n=7, case=None, returned=5000)


def test_report_figures_match_the_seeded_log_exactly(dept: Department, redis_url: str) -> None:
    log = Log(dept.conn)
    seed_february(log)
    settings = load_settings()
    layout = Layout(prefix=f"pwtest-{uuid.uuid4().hex[:8]}")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        client.hset(layout.entry_key("stolen", "7ABC123"), mapping={"reason": "stolen"})
        client.hset(layout.entry_key("stolen", "8XYZ999"), mapping={"reason": "stolen"})
        client.hset(layout.entry_key("amber", "5JKL321"), mapping={"reason": "amber"})
        client.expire(layout.entry_key("amber", "5JKL321"), 3600)
        client.hset(layout.list_key("stolen"), mapping={"fuzzy": "1"})  # list settings: not an entry
        r = build_report(dept.conn, settings.audit, settings.access, *FEB, hotlists=client, layout=layout)
    finally:
        for key in client.scan_iter(match=layout.scan_match):
            client.delete(key)
        client.close()

    assert r.searches == 5 + 3 + 2 + 1 + 4 + 2 + 1
    assert r.searches_refused == 1 and r.refused_untrained == 1
    by_user = {u.username: u for u in r.searches_by_user}
    assert (by_user["ivy"].searches, by_user["ken"].searches) == (11, 7)
    assert r.searches_by_organisation == {"PAPD": 11, "SCSO": 7}
    assert r.searches_without_case == 1 and [x.username for x in r.without_case_rows] == ["ivy"]
    assert (r.wildcard_searches, r.fuzzy_searches) == (3, 2)
    assert r.bulk_results == 1 and [x.returned_count for x in r.bulk_rows] == [900]
    assert r.out_of_hours == 6 and r.out_of_hours_by_user == {"ken": 6}
    assert by_user["ken"].out_of_hours == 6 and by_user["ken"].bulk == 1
    assert r.transfers == {"evidence.export": 2, "sharing.release": 1, "webhook.transfer": 3}
    assert len(r.transfer_rows) == 6
    assert r.hotlist_changes == {"hotlist change": 2}
    assert r.hotlist_without_expiry == {"stolen": 2}
    assert (r.failed_logins, r.lockouts, r.failed_logins_by_user) == (3, 1, {"ivy": 3})
    assert r.account_changes == {"role.approve": 1, "user.create": 1}
    assert [(x.action, x.subject, x.role) for x in r.account_rows] == [
        ("user.create", "newbie", None),
        ("role.approve", "newbie", "investigator"),
    ]
    assert {x["username"] for x in r.lapsed_training} == {"ada", "li"}  # the admin was never trained
    assert sum(r.by_hour) == sum(p for _, p, _ in r.by_day)
    assert r.by_hour[23] == 2  # ken's Wednesday-night searches, in local time
    # the files carry the same figures
    html = render_html(r)
    assert "<svg" in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "searches without a case number" in html
    csv_text = render_csv(r)
    assert "totals,searches,,18," in csv_text and "searches per organisation,SCSO,SCSO,7," in csv_text


def test_the_sample_is_never_assigned_to_the_searcher_and_a_review_is_recorded_once(
    dept: Department,
) -> None:
    log = Log(dept.conn)
    for name in ("sam", "sue", "ivy"):
        log.add(local(3, 10), name, "reads.search", n=6)
    cfg = AuditConfig(sample_size=12)
    audit_id = _audit(dept, cfg)
    drawn = audit_sample.draw_sample(dept.conn, cfg, audit_id, *FEB, rng=random.Random(1))
    assert len(drawn) == 12
    assert all(assigned is not None and assigned != searcher for _, searcher, assigned in drawn)
    sampled = audit_sample.sample(dept.conn, audit_id)
    assert {s.searcher for s in sampled} <= {"sam", "sue", "ivy"}
    own = next(s for s in sampled if s.searcher == "sam")
    with pytest.raises(NotPermitted, match="own search"):
        audit_sample.record_review(dept.conn, get_user(dept.conn, "sam"), audit_id, own.seq, "proper")
    with pytest.raises(audit_sample.ReviewError, match="needs a note"):
        audit_sample.record_review(dept.conn, get_user(dept.conn, "sue"), audit_id, own.seq, "improper")
    with pytest.raises(NotPermitted, match="supervisor"):
        audit_sample.record_review(dept.conn, get_user(dept.conn, "ivy"), audit_id, own.seq, "proper")
    done = audit_sample.record_review(
        dept.conn, get_user(dept.conn, "sue"), audit_id, own.seq, "unclear", "no case notes"
    )
    assert (done.reviewed_by, done.finding, done.note) == ("sue", "unclear", "no case notes")
    assert done.reviewed_at is not None and done.case_number == CASE
    with pytest.raises(audit_sample.ReviewError, match="already reviewed"):
        audit_sample.record_review(dept.conn, get_user(dept.conn, "sue"), audit_id, own.seq, "proper")
    # the database refuses a searcher's review even past the Python checks
    with pytest.raises(psycopg.errors.CheckViolation):
        dept.conn.execute(
            "UPDATE audit_reviews SET reviewed_by = searcher, reviewed_at = now(), finding = 'proper'"
            " WHERE audit_id = %s AND reviewed_at IS NULL",
            (audit_id,),
        )
    assert audit_sample.sample_progress(dept.conn, audit_id) == {
        "size": 12,
        "reviewed": 1,
        "improper": 0,
        "unassigned": 0,
    }


def test_with_one_supervisor_their_own_searches_are_left_unassigned(dept: Department) -> None:
    dept.conn.execute("UPDATE users SET disabled_at = now(), disabled_reason = 'test' WHERE username = 'sue'")
    log = Log(dept.conn)
    log.add(local(3, 10), "sam", "reads.search", n=3)
    log.add(local(3, 10), "ivy", "reads.search", n=3)
    cfg = AuditConfig(sample_size=6)
    drawn = audit_sample.draw_sample(dept.conn, cfg, _audit(dept, cfg), *FEB)
    assert sorted((s, a) for _, s, a in drawn) == [("ivy", "sam")] * 3 + [("sam", None)] * 3


def _audit(dept: Department, cfg: AuditConfig) -> int:
    row = dept.conn.execute(
        "INSERT INTO audits (period, period_start, period_end, produced_by, due_at)"
        " VALUES ('monthly', %s, %s, 'test', %s) RETURNING audit_id",
        (*FEB, audit_schedule.due_at(cfg, FEB[1])),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_periods_follow_the_local_calendar() -> None:
    at = datetime(2025, 3, 1, 7, 30, tzinfo=UTC)  # still 28 February in Los Angeles
    assert audit_schedule.period_bounds("monthly", "America/Los_Angeles", at) == FEB
    start, end = audit_schedule.period_bounds("weekly", "America/Los_Angeles", at)
    assert (start.astimezone(LA).isoweekday(), (end - start).days) == (1, 7)
    start, end = audit_schedule.period_bounds("quarterly", "UTC", at)
    assert (start, end) == (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))


def test_the_schedule_produces_the_audit_flags_it_overdue_and_a_signoff_clears_it(
    dept: Department, tmp_path: Path
) -> None:
    log = Log(dept.conn)
    log.add(local(3, 10), "ivy", "reads.search", n=4)
    log.add(local(5, 10), "ken", "reads.search", n=4)
    settings = load_settings()
    cfg = AuditConfig(sample_size=3, signoff_days=10)
    before_end = FEB[1] - timedelta(hours=1)
    assert audit_schedule.due_periods(dept.conn, cfg, before_end) == []  # February has not ended
    after = FEB[1] + timedelta(days=1)
    assert audit_schedule.due_periods(dept.conn, cfg, after) == [FEB]  # January: before the first row
    done = audit_watch.run_audit_upkeep(
        dept.conn, cfg, settings.access, data_dir=tmp_path, now=after, rng=random.Random(2)
    )
    assert done.problems == [] and len(done.produced) == 1
    audit_id = done.produced[0]
    files = sorted(p.name for p in (tmp_path / "audits").iterdir())
    assert files == [
        "audit-monthly-2025-02-01.csv",
        "audit-monthly-2025-02-01.html",
        "audit-monthly-2025-02-01.json",
    ]
    assert (tmp_path / "audits" / files[0]).stat().st_mode & 0o077 == 0
    status = audit_schedule.audit_status(dept.conn, cfg, after)
    assert not status.overdue and status.audits[0]["figures"]["searches"] == 8
    assert status.audits[0]["sample"]["size"] == 3
    # a second pass produces nothing new
    again = audit_watch.run_audit_upkeep(dept.conn, cfg, settings.access, data_dir=tmp_path, now=after)
    assert again.produced == []

    late = FEB[1] + timedelta(days=11)
    status = audit_schedule.audit_status(dept.conn, cfg, late)
    assert status.overdue and status.audits[0]["overdue"]
    assert audit_watch.raise_overdue(dept.conn, cfg, late) == 1
    assert audit_watch.raise_overdue(dept.conn, cfg, late) == 0  # raised once
    [note] = audit_watch.notifications(dept.conn)
    assert note["kind"] == "audit_overdue" and f"audit {audit_id}" in note["message"]

    with pytest.raises(NotPermitted):
        audit_schedule.sign_off(dept.conn, get_user(dept.conn, "ivy"), audit_id, "looks fine")
    signed = audit_schedule.sign_off(
        dept.conn, get_user(dept.conn, "sue"), audit_id, "read; two searches queried"
    )
    assert signed["signed_by"] == "sue" and not signed["overdue"]
    assert not audit_schedule.audit_status(dept.conn, cfg, late).overdue
    with pytest.raises(audit_schedule.AuditError, match="already signed off"):
        audit_schedule.sign_off(dept.conn, get_user(dept.conn, "sam"), audit_id)
    produce_rows = dept.conn.execute(
        "SELECT count(*) FROM access_log WHERE action = 'audit.produce'"
    ).fetchone()
    assert produce_rows == (1,)


def test_a_period_the_worker_missed_is_overdue_too(dept: Department) -> None:
    Log(dept.conn).add(local(3, 10), "ivy", "reads.search")
    cfg = AuditConfig(signoff_days=5)
    late = FEB[1] + timedelta(days=6)
    status = audit_schedule.audit_status(dept.conn, cfg, late)
    assert status.overdue and status.missing == [FEB] and status.audits == []
    assert audit_watch.raise_overdue(dept.conn, cfg, late) == 1


def test_a_bulk_search_and_an_out_of_hours_spike_notify_supervisors_once(dept: Department) -> None:
    cfg = AuditConfig(bulk_results=100, out_of_hours_spike=5)
    log = Log(dept.conn)
    now = local(9, 1, 30)  # Sunday 01:30 local
    log.add(now - timedelta(hours=3), "ivy", "reads.search", returned=5000)  # before the first scan's window
    assert audit_watch.scan_unusual(dept.conn, cfg, now) == 0
    [bulk] = log.add(now - timedelta(minutes=2), "ivy", "reads.search", returned=101)
    log.add(now - timedelta(minutes=2), "ivy", "reads.search", returned=100)  # not above the threshold
    log.add(now - timedelta(minutes=40), "ken", "reads.search", n=4)  # four: below the spike
    assert audit_watch.scan_unusual(dept.conn, cfg, now) == 1
    [note] = audit_watch.notifications(dept.conn)
    assert (note["kind"], note["username"], note["seqs"]) == ("bulk", "ivy", [bulk])
    assert "101 rows" in note["message"]
    log.add(now - timedelta(minutes=1), "ken", "reads.search")  # the fifth within the hour
    assert audit_watch.scan_unusual(dept.conn, cfg, now) == 1
    log.add(now, "ken", "reads.search")  # a sixth: the same person, the same night
    assert audit_watch.scan_unusual(dept.conn, cfg, now + timedelta(minutes=5)) == 0
    assert audit_watch.scan_unusual(dept.conn, cfg, now + timedelta(minutes=10)) == 0  # nothing new
    kinds = sorted((n["kind"], n["username"]) for n in audit_watch.notifications(dept.conn))
    assert kinds == [("bulk", "ivy"), ("out_of_hours", "ken")]
    seen = audit_watch.acknowledge(dept.conn, get_user(dept.conn, "sue"), note["notification_id"])
    assert seen["acknowledged_by"] == "sue"
    assert [n["kind"] for n in audit_watch.notifications(dept.conn)] == ["out_of_hours"]


def test_the_report_says_what_the_period_s_alerts_came_to_per_list(dept: Department) -> None:
    import dataclasses

    from test_alert_lifecycle import make_alert

    from platewatch.engine.alerts import lifecycle, records
    from platewatch.engine.alerts.lifecycle import Disposition, Step

    def raised(at: datetime, tier: str = "alert") -> Any:
        alert = make_alert(tier=tier)
        read = dataclasses.replace(alert.read, time=at.timestamp())
        return dataclasses.replace(alert, read=read, time=at.timestamp())

    inside = FEB[0] + timedelta(days=3)
    stop, false, untouched, possible = (
        raised(inside),
        raised(inside),
        raised(inside),
        raised(inside, "possible"),
    )
    outside = raised(FEB[1] + timedelta(days=1))  # March: not this report's
    records.store_alerts(dept.conn, [stop, false, untouched, possible, outside])
    for a in (stop, false):
        lifecycle.take_step(dept.conn, a.alert_id, Step.ACKNOWLEDGE, actor="dana")
    lifecycle.take_step(dept.conn, stop.alert_id, Step.VERIFY, actor="dana", note="NCIC confirms")
    lifecycle.set_disposition(dept.conn, stop.alert_id, Disposition.VEHICLE_RECOVERED, actor="dana")
    lifecycle.take_step(dept.conn, false.alert_id, Step.FALSE_HIT, actor="dana", note="8 not B")
    settings = load_settings()
    r = build_report(dept.conn, settings.audit, settings.access, *FEB)
    got = {(x["tier"], x["state"], x["disposition"]): x["alerts"] for x in r.alert_outcomes}
    assert got == {
        ("alert", "verified", "vehicle_recovered"): 1,
        ("alert", "false_hit", ""): 1,
        ("alert", "new", ""): 1,
        ("possible", "new", ""): 1,
    }
    assert {x["hotlist"] for x in r.alert_outcomes} == {"stolen"}
    assert "vehicle_recovered" in render_html(r) and "alerts by list and outcome" in render_csv(r)
