"""Accounts, role grants, training and the access review, on PostgreSQL; every change is in the access log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from policy_people import COURSE, PASSWORD, Department, cheap_hashes, found_department

from platewatch.engine.config.access import AccessConfig
from platewatch.engine.policy import access_log, accounts, training
from platewatch.engine.policy.directory import Actor, get_user
from platewatch.engine.policy.errors import NotPermitted, PolicyError
from platewatch.engine.policy.passwords import PasswordRejected
from platewatch.engine.policy.roles import Role
from platewatch.engine.store import migrate


@pytest.fixture
def dept(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Department]:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield found_department(conn)


def _actions(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    return [(r.action, r.username, r.outcome) for r in reversed(access_log.query(conn, limit=1000))]


def test_the_founding_is_on_record_as_the_operators(dept: Department) -> None:
    assert _actions(dept.conn) == [
        ("user.create", "os:tester", "allowed"),
        ("role.grant", "os:tester", "allowed"),
        ("user.create", "os:tester", "allowed"),
        ("role.request", "os:tester", "allowed"),
        ("role.approve", "os:tester", "allowed"),
        ("training.record", "os:tester", "allowed"),
    ]
    approve = access_log.query(dept.conn, action="role.approve")[0]
    assert approve.terms["bootstrap"] is True and approve.terms["role"] == "supervisor"
    assert access_log.verify(dept.conn).ok


def test_a_new_account_follows_the_password_policy_and_is_logged(dept: Department) -> None:
    with pytest.raises(PasswordRejected, match="at least 12"):
        accounts.create_user(
            dept.conn, dept.admin, username="bob", display_name="Bob", organisation="PAPD", password="short"
        )
    with pytest.raises(PasswordRejected, match="username"):
        accounts.create_user(
            dept.conn,
            dept.admin,
            username="bobby",
            display_name="Bob",
            organisation="PAPD",
            password="i am bobby and proud",
        )
    user = accounts.create_user(
        dept.conn,
        dept.admin,
        username="Bob.Jones",
        display_name="Bob Jones",
        organisation="Mountain View PD",
        password=PASSWORD,
        clets_authorised=True,
    )
    assert (user.username, user.roles, user.clets_authorised, user.must_change_password) == (
        "bob.jones",
        frozenset(),
        True,
        True,
    )
    with pytest.raises(PolicyError, match="already exists"):
        accounts.create_user(
            dept.conn, dept.admin, username="bob.jones", display_name="B", organisation="X", password=PASSWORD
        )
    with pytest.raises(PolicyError, match="not a valid username"):
        accounts.create_user(
            dept.conn, dept.admin, username="bob jones", display_name="B", organisation="X", password=PASSWORD
        )
    row = access_log.query(dept.conn, action="user.create")[0]
    assert (row.username, row.organisation, row.client_address, row.user_id) == ("ada", "PAPD", "10.0.0.1", 1)
    assert row.terms["user"] == "bob.jones" and row.terms["organisation"] == "Mountain View PD"
    assert PASSWORD not in str(row.terms)


def test_only_an_admin_changes_accounts(dept: Department) -> None:
    dept.add("ivan", Role.INVESTIGATOR)
    ivan = dept.actor("ivan")
    with pytest.raises(NotPermitted, match="only an admin"):
        accounts.create_user(
            dept.conn, ivan, username="eve", display_name="Eve", organisation="PAPD", password=PASSWORD
        )
    with pytest.raises(NotPermitted, match="only an admin"):
        accounts.request_role(dept.conn, ivan, "ivan", Role.ADMIN)
    with pytest.raises(NotPermitted, match="only an admin"):
        accounts.disable_user(dept.conn, dept.supervisor, "ivan", "because")


def test_a_read_role_takes_effect_only_when_another_supervisor_approves(dept: Department) -> None:
    dept.add("ivan")
    grant = accounts.request_role(dept.conn, dept.admin, "ivan", "investigator", reason="new detective")
    assert grant.status == "pending" and Role.INVESTIGATOR not in get_user(dept.conn, "ivan").roles
    assert [g.grant_id for g in accounts.pending_grants(dept.conn)] == [grant.grant_id]
    with pytest.raises(PolicyError, match="already awaits approval"):
        accounts.request_role(dept.conn, dept.admin, "ivan", Role.INVESTIGATOR)
    # the operator's bootstrap right ended when a trained supervisor appeared
    with pytest.raises(NotPermitted, match="a supervisor must do this"):
        accounts.approve_grant(dept.conn, dept.cfg, dept.operator, grant.grant_id)
    # an admin is not a supervisor ...
    with pytest.raises(NotPermitted, match="only a supervisor"):
        accounts.approve_grant(dept.conn, dept.cfg, dept.admin, grant.grant_id)
    approved = accounts.approve_grant(dept.conn, dept.cfg, dept.supervisor, grant.grant_id, note="ok")
    assert (approved.status, approved.decided_by) == ("approved", "sam")
    assert Role.INVESTIGATOR in get_user(dept.conn, "ivan").roles
    with pytest.raises(PolicyError, match="already approved"):
        accounts.approve_grant(dept.conn, dept.cfg, dept.supervisor, grant.grant_id)
    assert [a for a, _u, _o in _actions(dept.conn)][-2:] == ["role.request", "role.approve"]


def test_nobody_makes_themselves_or_a_friend_an_investigator_alone(dept: Department) -> None:
    # an admin who is also a supervisor asks for a friend: another supervisor must approve
    dept.add("otto", Role.SUPERVISOR, Role.ADMIN)
    otto = dept.actor("otto")
    dept.add("friend")
    grant = accounts.request_role(dept.conn, otto, "friend", Role.INVESTIGATOR)
    with pytest.raises(NotPermitted, match="otto asked for this grant"):
        accounts.approve_grant(dept.conn, dept.cfg, otto, grant.grant_id)
    # ... nor for themselves, even when someone else asked
    dept.add("pat", Role.SUPERVISOR)
    own = accounts.request_role(dept.conn, dept.admin, "pat", Role.DISPATCHER)
    with pytest.raises(NotPermitted, match="nobody approves a role for themselves"):
        accounts.approve_grant(dept.conn, dept.cfg, dept.actor("pat"), own.grant_id)
    accounts.approve_grant(dept.conn, dept.cfg, dept.supervisor, grant.grant_id)
    assert Role.INVESTIGATOR in get_user(dept.conn, "friend").roles


def test_a_supervisor_without_current_training_cannot_approve(dept: Department) -> None:
    dept.add("una", Role.SUPERVISOR, trained=False)
    dept.add("ivan")
    grant = accounts.request_role(dept.conn, dept.admin, "ivan", Role.INVESTIGATOR)
    with pytest.raises(NotPermitted, match="no current ALPR training"):
        accounts.approve_grant(dept.conn, dept.cfg, dept.actor("una"), grant.grant_id)
    refused = accounts.refuse_grant(dept.conn, dept.cfg, dept.supervisor, grant.grant_id, "not yet")
    assert refused.status == "refused" and Role.INVESTIGATOR not in get_user(dept.conn, "ivan").roles


def test_admin_and_auditor_need_no_approval_and_any_role_is_revoked_at_once(dept: Department) -> None:
    dept.add("aud")
    grant = accounts.request_role(dept.conn, dept.admin, "aud", Role.AUDITOR)
    assert grant.status == "approved" and Role.AUDITOR in get_user(dept.conn, "aud").roles
    user = accounts.revoke_role(dept.conn, dept.admin, "aud", Role.AUDITOR, "moved on")
    assert user.roles == frozenset()
    with pytest.raises(PolicyError, match="does not hold"):
        accounts.revoke_role(dept.conn, dept.admin, "aud", Role.AUDITOR, "again")
    with pytest.raises(PolicyError, match="is not a role"):
        accounts.request_role(dept.conn, dept.admin, "aud", "superuser")
    assert [a for a, _u, _o in _actions(dept.conn)][-2:] == ["role.grant", "role.revoke"]


def test_disable_enable_and_reset_are_logged(dept: Department) -> None:
    dept.add("ivan", Role.INVESTIGATOR)
    with pytest.raises(NotPermitted, match="cannot disable their own"):
        accounts.disable_user(dept.conn, dept.admin, "ada", "oops")
    user = accounts.disable_user(dept.conn, dept.admin, "ivan", "left the department")
    assert user.disabled and user.disabled_reason == "left the department"
    with pytest.raises(PolicyError, match="disabled"):
        accounts.request_role(dept.conn, dept.admin, "ivan", Role.AUDITOR)
    assert not accounts.enable_user(dept.conn, dept.admin, "ivan").disabled
    reset = accounts.reset_password(dept.conn, dept.admin, "ivan", "a brand new passphrase")
    assert reset.must_change_password
    with pytest.raises(NotPermitted, match="not right"):
        accounts.change_password(dept.conn, dept.actor("ivan"), "wrong", "another new passphrase")
    changed = accounts.change_password(
        dept.conn, dept.actor("ivan"), "a brand new passphrase", "another new passphrase"
    )
    assert not changed.must_change_password
    assert accounts.set_clets_authorised(dept.conn, dept.admin, "ivan", True).clets_authorised
    actions = [a for a, _u, _o in _actions(dept.conn)]
    assert actions[-5:] == [
        "user.disable",
        "user.enable",
        "user.password_reset",
        "user.password_change",
        "user.clets",
    ]


def test_unused_accounts_are_disabled(dept: Department) -> None:
    dept.add("ivan", Role.INVESTIGATOR)
    cfg = AccessConfig(disable_unused_days=90)
    assert accounts.disable_unused(dept.conn, cfg, dept.admin) == []
    later = datetime.now(UTC) + timedelta(days=91)
    dept.conn.execute(
        "UPDATE users SET last_login_at = %s WHERE username = 'ada'", (later - timedelta(days=1),)
    )
    gone = accounts.disable_unused(dept.conn, cfg, dept.operator, now=later)
    assert gone == ["ivan", "sam"]  # never logged in, created 91 days before `later`
    assert get_user(dept.conn, "ivan").disabled_reason == "unused for 90 days"
    assert (
        accounts.disable_unused(dept.conn, AccessConfig(disable_unused_days=0), dept.operator, now=later)
        == []
    )


def test_only_a_trained_supervisor_records_training_and_never_their_own(dept: Department) -> None:
    now = datetime.now(UTC)
    dept.add("ivan", Role.INVESTIGATOR, trained=False)
    with pytest.raises(NotPermitted, match="only a supervisor"):
        training.record_training(dept.conn, dept.cfg, dept.admin, "ivan", COURSE, now)
    with pytest.raises(NotPermitted, match="their own training"):
        training.record_training(dept.conn, dept.cfg, dept.supervisor, "sam", COURSE, now)
    with pytest.raises(PolicyError, match="not a department-approved course"):
        training.record_training(dept.conn, dept.cfg, dept.supervisor, "ivan", "Basket weaving", now)
    with pytest.raises(PolicyError, match="in the future"):
        training.record_training(
            dept.conn, dept.cfg, dept.supervisor, "ivan", COURSE, now + timedelta(days=2)
        )
    ivan = get_user(dept.conn, "ivan")
    assert not training.training_status(dept.conn, dept.cfg, ivan.user_id).trained
    record = training.record_training(
        dept.conn, dept.cfg, dept.supervisor, "ivan", COURSE.upper(), now - timedelta(days=10), note="class 7"
    )
    assert (record.course, record.recorded_by, record.username) == (COURSE, "sam", "ivan")
    assert record.expires_at == now - timedelta(days=10) + timedelta(days=365)
    status = training.training_status(dept.conn, dept.cfg, ivan.user_id)
    assert status.trained and status.reason is None and status.expires_at == record.expires_at
    assert [r.record_id for r in training.current_training(dept.conn, ivan.user_id)] == [record.record_id]
    # a year later it has lapsed, and says so
    lapsed = training.training_status(dept.conn, dept.cfg, ivan.user_id, now + timedelta(days=400))
    assert not lapsed.trained and lapsed.missing == (COURSE,)
    assert "no current ALPR training" in str(lapsed.reason) and "462.2(d)" in str(lapsed.reason)
    row = access_log.query(dept.conn, action="training.record")[0]
    assert row.username == "sam" and row.terms["user"] == "ivan" and row.terms["bootstrap"] is False


def test_supervisors_see_who_lapses_soon(dept: Department) -> None:
    now = datetime.now(UTC)
    dept.add("early")  # trained yesterday: current for a year
    dept.add("never", trained=False)
    dept.add("soon", trained=False)
    training.record_training(
        dept.conn,
        dept.cfg,
        dept.supervisor,
        "soon",
        COURSE,
        now - timedelta(days=300),
        now + timedelta(days=10),
    )
    lapses = training.lapsing(dept.conn, dept.cfg, within_days=30, now=now)
    # ada (the admin) was never trained either: operating the equipment needs it too
    assert [(lapse.username, lapse.lapsed(now)) for lapse in lapses] == [
        ("ada", True),
        ("never", True),
        ("soon", False),
    ]
    assert [lapse.username for lapse in training.lapsing(dept.conn, dept.cfg, within_days=5, now=now)] == [
        "ada",
        "never",
    ]
    assert {lapse.username for lapse in training.lapsing(dept.conn, dept.cfg, within_days=400, now=now)} == {
        "ada",
        "early",
        "never",
        "sam",
        "soon",
    }


def test_the_access_review_lists_who_holds_what_on_whose_say_so(dept: Department) -> None:
    dept.add("ivan", Role.INVESTIGATOR)
    dept.add("dora", trained=False)
    pending = accounts.request_role(dept.conn, dept.admin, "dora", Role.DISPATCHER)
    auditor = dept.add("aud", Role.AUDITOR)
    review = {
        line.user.username: line for line in accounts.access_review(dept.conn, dept.cfg, dept.actor("aud"))
    }
    assert set(review) == {"ada", "sam", "ivan", "dora", "aud"}
    (holding,) = review["ivan"].holdings
    assert (holding.role, holding.granted_by, holding.approved_by) == (Role.INVESTIGATOR, "ada", "sam")
    assert review["ivan"].training.trained and not review["dora"].training.trained
    assert [g.grant_id for g in review["dora"].pending] == [pending.grant_id]
    assert review["sam"].holdings[0].approved_by == "os:tester"
    row = access_log.query(dept.conn, action="access.review")[0]
    assert (row.user_id, row.returned_count) == (auditor.user_id, 5)
    with pytest.raises(NotPermitted):
        accounts.access_review(dept.conn, dept.cfg, dept.actor("ivan"))


def test_a_disabled_actor_can_do_nothing(dept: Department) -> None:
    dept.add("otto", Role.ADMIN)
    otto = dept.actor("otto")
    accounts.disable_user(dept.conn, dept.admin, "otto", "suspended")
    with pytest.raises(NotPermitted, match="disabled"):
        accounts.create_user(
            dept.conn, otto, username="eve", display_name="Eve", organisation="PAPD", password=PASSWORD
        )


def test_every_change_above_left_a_verifiable_chain(dept: Department) -> None:
    dept.add("ivan", Role.INVESTIGATOR)
    accounts.disable_user(dept.conn, dept.admin, "ivan", "x")
    report = access_log.verify(dept.conn)
    assert report.ok and report.rows == len(access_log.query(dept.conn, limit=1000))


def test_a_change_whose_log_row_cannot_be_written_does_not_happen(
    dept: Department, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: object, **_k: object) -> None:
        raise access_log.AccessLogError("disk full")

    monkeypatch.setattr(access_log, "append", broken)
    with pytest.raises(access_log.AccessLogError):
        accounts.create_user(
            dept.conn, dept.admin, username="eve", display_name="Eve", organisation="PAPD", password=PASSWORD
        )
    assert dept.conn.execute("SELECT count(*) FROM users WHERE username = 'eve'").fetchone() == (0,)


def test_the_operator_is_named_by_os_login() -> None:
    assert Actor.console("root").username == "os:root" and Actor.console("root").operator
