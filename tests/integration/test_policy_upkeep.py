"""The worker's policy upkeep: the access log purged past retention, unused accounts disabled, the
chain head anchored; each step on its own, so one that fails leaves the others done."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from platewatch.engine.config.access import AccessConfig
from platewatch.engine.policy import access_log, accounts
from platewatch.engine.policy.directory import Actor, get_user
from platewatch.engine.policy.sealer import seal
from platewatch.engine.policy.upkeep import UPKEEP, keep_up, run_upkeep
from platewatch.engine.store import migrate
from tests.integration.test_policy_access_log import _insert_old_rows
from tests.policy_people import PASSWORD, cheap_hashes

OPERATOR = Actor.console("tester")


@pytest.fixture
def conn(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[psycopg.Connection]:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


def _user(conn: psycopg.Connection, name: str, idle_days: int) -> None:
    accounts.create_user(
        conn, OPERATOR, username=name, display_name=name.title(), organisation="PAPD", password=PASSWORD
    )
    conn.execute(
        "UPDATE users SET created_at = now() - make_interval(days => %s) WHERE username = %s",
        (idle_days, name),
    )


def test_upkeep_purges_disables_and_anchors(conn: psycopg.Connection, tmp_path: Path) -> None:
    _insert_old_rows(conn, 3, days_ago=800)
    _user(conn, "gone", idle_days=120)
    _user(conn, "busy", idle_days=10)
    cfg = AccessConfig(disable_unused_days=90)

    report = run_upkeep(conn, cfg, retention_days=30, data_dir=tmp_path)

    assert report.problems == []
    assert report.purged == 3  # older than the one-year floor, which applies although retention is 30 days
    assert report.disabled == ["gone"]
    assert get_user(conn, "gone").disabled and not get_user(conn, "busy").disabled
    head = access_log.head(conn)
    assert head is not None and report.anchor is not None and report.anchor.seq == head.seq
    anchors = access_log.read_anchors(tmp_path / "audit-anchors.jsonl")
    assert [a.seq for a in anchors] == [head.seq]
    verified = access_log.verify(conn, tmp_path / "audit-anchors.jsonl")
    assert verified.ok, verified.problem
    actions = {(r.username, r.action) for r in access_log.query(conn, username=UPKEEP.username)}
    assert actions == {(UPKEEP.username, access_log.PURGE_ACTION), (UPKEEP.username, "user.disable")}

    again = run_upkeep(conn, cfg, retention_days=30, data_dir=tmp_path)
    assert (again.purged, again.disabled, again.problems) == (0, [], [])
    assert again.anchor == anchors[-1]  # nothing new to anchor


def test_a_broken_chain_is_reported_and_the_other_steps_still_run(
    conn: psycopg.Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _user(conn, "gone", idle_days=120)
    seal(conn, wait=True)  # a row is tamper-evident once sealed
    with conn.transaction():
        conn.execute("ALTER TABLE access_log DISABLE TRIGGER USER")
        conn.execute("UPDATE access_log SET username = 'mallory' WHERE seq = 1")
        conn.execute("ALTER TABLE access_log ENABLE TRIGGER USER")
    with caplog.at_level(logging.ERROR, logger="platewatch.policy"):
        report = run_upkeep(conn, AccessConfig(), retention_days=30, data_dir=tmp_path)
    assert report.disabled == ["gone"]
    assert report.anchor is None and len(report.problems) == 1
    assert "row 1 was altered" in report.problems[0] and "row 1 was altered" in caplog.text
    assert not (tmp_path / "audit-anchors.jsonl").exists()


async def test_the_timer_survives_a_database_that_is_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="platewatch.policy"):
        await keep_up(
            "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2",
            AccessConfig(),
            retention_days=30,
            data_dir=tmp_path,
        )
    assert "policy upkeep failed" in caplog.text
