"""Login, lockout, TOTP and recovery codes, session expiry and logout, and the gate data routes use."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyotp
import pytest
from policy_people import KEY, PASSWORD, Department, cheap_hashes, found_department

from platewatch.engine.config.access import AccessConfig
from platewatch.engine.policy import access_log, accounts, mfa, sessions
from platewatch.engine.policy.directory import get_user
from platewatch.engine.policy.errors import PolicyError
from platewatch.engine.policy.gate import AccessRefused, authorise
from platewatch.engine.policy.ratelimit import LoginRateLimiter
from platewatch.engine.policy.roles import Role
from platewatch.engine.policy.sessions import LoginRefused, SessionInvalid, login
from platewatch.engine.store import migrate

CFG = AccessConfig(lockout_after=3, lockout_minutes=15, session_idle_minutes=30, session_max_hours=12)


@pytest.fixture
def dept(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Department]:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield found_department(conn, CFG)


def _login(dept: Department, username: str, password: str = PASSWORD, **kw: object) -> sessions.IssuedSession:
    return login(dept.conn, dept.cfg, KEY, username=username, password=password, address="10.0.0.7", **kw)  # type: ignore[arg-type]


def _enrol(dept: Department, username: str, now: datetime) -> tuple[str, tuple[str, ...]]:
    enrolment = mfa.begin_enrolment(dept.conn, KEY, dept.actor(username))
    code = pyotp.TOTP(enrolment.secret).at(now)
    codes = mfa.confirm_enrolment(dept.conn, KEY, dept.actor(username), code, now=now)
    return enrolment.secret, codes


def test_a_login_opens_a_session_and_is_logged(dept: Department) -> None:
    issued = _login(dept, "ADA ")
    assert issued.token.startswith("pw_") and issued.csrf_token and not issued.must_enrol_mfa
    assert issued.user.username == "ada" and issued.user.last_login_at is not None
    session = sessions.authenticate(dept.conn, dept.cfg, issued.token)
    assert (session.username, session.kind, session.second_factor, session.client_address) == (
        "ada",
        "browser",
        "none",
        "10.0.0.7",
    )
    assert sessions.check_csrf(session, issued.csrf_token) and not sessions.check_csrf(session, "forged")
    assert not sessions.check_csrf(session, None)
    stored = dept.conn.execute("SELECT token_hash FROM sessions").fetchone()
    assert stored is not None and issued.token.encode() not in bytes(stored[0])
    row = access_log.query(dept.conn, action="login")[0]
    assert (row.username, row.outcome, row.client_address, row.terms["kind"]) == (
        "ada",
        "allowed",
        "10.0.0.7",
        "browser",
    )
    bearer = _login(dept, "ada", kind="bearer")
    assert bearer.csrf_token is None and bearer.session.expires_at - bearer.session.created_at == timedelta(
        hours=1
    )
    assert sessions.check_csrf(bearer.session, None)


def test_wrong_passwords_lock_the_account_and_the_lockout_is_logged(dept: Department) -> None:
    now = datetime.now(UTC)
    for _ in range(2):
        with pytest.raises(LoginRefused, match="wrong password") as err:
            _login(dept, "ada", "not the password", now=now)
        assert err.value.code == "bad_credentials"
    with pytest.raises(LoginRefused, match="now locked"):
        _login(dept, "ada", "not the password", now=now)
    with pytest.raises(LoginRefused, match="locked after 3 failed logins") as err:
        _login(dept, "ada", now=now)  # the right password does not help while locked
    assert err.value.code == "locked"
    lockout = access_log.query(dept.conn, action="login.lockout")
    assert (
        len(lockout) == 1 and lockout[0].outcome == "refused" and "3 failed logins" in str(lockout[0].reason)
    )
    refused = access_log.query(dept.conn, action="login", outcome="refused")
    assert len(refused) == 4 and all(r.username == "ada" and r.user_id is not None for r in refused)
    # the lock ends by itself, or when an admin enables the account
    assert _login(dept, "ada", now=now + timedelta(minutes=16)).user.username == "ada"
    for _ in range(3):
        with pytest.raises(LoginRefused):
            _login(dept, "sam", "nope", now=now)
    accounts.enable_user(dept.conn, dept.admin, "sam")
    assert _login(dept, "sam", now=now).user.failed_logins == 0


def test_a_lockout_without_expiry_needs_an_admin(dept: Department) -> None:
    dept.cfg = AccessConfig(lockout_after=1, lockout_minutes=0)
    with pytest.raises(LoginRefused):
        _login(dept, "sam", "nope")
    with pytest.raises(LoginRefused, match="an admin must enable it"):
        _login(dept, "sam", now=datetime.now(UTC) + timedelta(days=3650))


def test_unknown_users_and_disabled_accounts_are_refused_and_logged(dept: Department) -> None:
    with pytest.raises(LoginRefused, match="unknown username or wrong password") as err:
        _login(dept, "mallory")
    assert err.value.code == "bad_credentials"
    row = access_log.query(dept.conn, action="login")[0]
    assert (row.username, row.organisation, row.user_id, row.outcome) == (
        "mallory",
        "(unknown user)",
        None,
        "refused",
    )
    dept.add("ivan", Role.AUDITOR)
    live = _login(dept, "ivan")
    accounts.disable_user(dept.conn, dept.admin, "ivan", "suspended")
    with pytest.raises(SessionInvalid, match="account disabled"):
        sessions.authenticate(dept.conn, dept.cfg, live.token)
    with pytest.raises(LoginRefused, match=r"disabled \(suspended\)") as err:
        _login(dept, "ivan")
    assert err.value.code == "disabled"


def test_sessions_end_when_idle_at_their_absolute_expiry_and_on_logout(dept: Department) -> None:
    t0 = datetime.now(UTC)
    issued = _login(dept, "ada", now=t0)
    token = issued.token
    # used every 20 minutes, it lives until its absolute expiry (12 h)
    at = t0
    while at + timedelta(minutes=20) < t0 + timedelta(hours=12):
        at += timedelta(minutes=20)
        sessions.authenticate(dept.conn, dept.cfg, token, now=at)
    with pytest.raises(SessionInvalid, match="expired") as err:
        sessions.authenticate(dept.conn, dept.cfg, token, now=t0 + timedelta(hours=12))
    assert err.value.code == "expired"
    idle = _login(dept, "ada", now=t0)
    sessions.authenticate(dept.conn, dept.cfg, idle.token, now=t0 + timedelta(minutes=29))
    with pytest.raises(SessionInvalid, match="30 minutes without use"):
        sessions.authenticate(dept.conn, dept.cfg, idle.token, now=t0 + timedelta(minutes=60))
    with pytest.raises(SessionInvalid, match="ended"):  # an idle session stays ended
        sessions.authenticate(dept.conn, dept.cfg, idle.token, now=t0 + timedelta(minutes=61))
    out = _login(dept, "ada")
    assert sessions.logout(dept.conn, out.token, "10.0.0.7")
    assert not sessions.logout(dept.conn, out.token)
    with pytest.raises(SessionInvalid, match="logout") as err:
        sessions.authenticate(dept.conn, dept.cfg, out.token)
    assert err.value.code == "revoked"
    with pytest.raises(SessionInvalid, match="unknown"):
        sessions.authenticate(dept.conn, dept.cfg, "pw_made_up")
    assert access_log.query(dept.conn, action="logout")[0].username == "ada"


def test_a_totp_code_works_once_and_recovery_codes_once_each(dept: Department) -> None:
    now = datetime.now(UTC)
    dept.add("ivan", Role.INVESTIGATOR)
    first = _login(dept, "ivan", now=now)
    assert first.must_enrol_mfa and first.session.second_factor == "none"
    secret, codes = _enrol(dept, "ivan", now - timedelta(seconds=60))
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = dept.conn.execute("SELECT totp_secret FROM users WHERE username = 'ivan'").fetchone()
    assert stored is not None and secret.encode() not in bytes(stored[0])  # encrypted at rest
    with pytest.raises(LoginRefused, match="authenticator app") as err:
        _login(dept, "ivan", now=now)
    assert err.value.code == "second_factor_required"
    code = pyotp.TOTP(secret).at(now)
    ok = _login(dept, "ivan", totp=code, now=now)
    assert ok.session.second_factor == "totp" and not ok.must_enrol_mfa
    with pytest.raises(LoginRefused, match="works only once") as err:
        _login(dept, "ivan", totp=code, now=now)  # replayed within its 30 seconds
    assert err.value.code == "second_factor_invalid"
    assert _login(
        dept, "ivan", totp=pyotp.TOTP(secret).at(now + timedelta(seconds=30)), now=now + timedelta(seconds=30)
    )
    recovered = _login(dept, "ivan", recovery_code=codes[0].upper(), now=now)
    assert recovered.session.second_factor == "recovery_code"
    with pytest.raises(LoginRefused, match="works only once"):
        _login(dept, "ivan", recovery_code=codes[0], now=now)
    assert mfa.recovery_codes_left(dept.conn, get_user(dept.conn, "ivan").user_id) == 9
    fresh = mfa.new_recovery_codes(dept.conn, dept.actor("ivan"))
    with pytest.raises(LoginRefused):
        _login(dept, "ivan", recovery_code=codes[1], now=now)  # replaced
    assert _login(dept, "ivan", recovery_code=fresh[0], now=now).session.second_factor == "recovery_code"
    assert [r.action for r in access_log.query(dept.conn, action="mfa.enrol")] == ["mfa.enrol"]


def test_enrolment_needs_a_right_code_and_an_admin_can_reset_it(dept: Department) -> None:
    dept.add("ivan", Role.INVESTIGATOR)
    ivan = dept.actor("ivan")
    with pytest.raises(PolicyError, match="no TOTP enrolment is in progress"):
        mfa.confirm_enrolment(dept.conn, KEY, ivan, "123456")
    mfa.begin_enrolment(dept.conn, KEY, ivan)
    with pytest.raises(PolicyError, match="does not match"):
        mfa.confirm_enrolment(dept.conn, KEY, ivan, "000000x")
    _enrol(dept, "ivan", datetime.now(UTC))
    assert get_user(dept.conn, "ivan").mfa_enrolled
    with pytest.raises(PolicyError, match="cannot be decrypted"):
        login(dept.conn, dept.cfg, b"y" * 43 + b"=", username="ivan", password=PASSWORD, totp="123456")
    assert not accounts.reset_second_factor(dept.conn, dept.admin, "ivan").mfa_enrolled
    assert _login(dept, "ivan").must_enrol_mfa


def test_login_attempts_are_rate_limited_per_user(dept: Department) -> None:
    limiter = LoginRateLimiter(AccessConfig(login_attempts_per_user=2, login_attempts_per_address=100))
    _login(dept, "ada", limiter=limiter)
    _login(dept, "ada", limiter=limiter)
    with pytest.raises(LoginRefused, match="too many login attempts") as err:
        _login(dept, "ada", limiter=limiter)
    assert err.value.code == "rate_limited" and err.value.retry_after_s is not None
    assert access_log.query(dept.conn, action="login")[0].terms["code"] == "rate_limited"


def test_the_gate_refuses_anonymous_wrong_role_untrained_and_single_factor(dept: Department) -> None:
    now = datetime.now(UTC)
    with pytest.raises(AccessRefused) as err:
        authorise(dept.conn, dept.cfg, None, roles=[Role.INVESTIGATOR])
    assert err.value.status == 401
    with pytest.raises(AccessRefused) as err:
        authorise(dept.conn, dept.cfg, "pw_nonsense", roles=[Role.INVESTIGATOR])
    assert (err.value.status, err.value.code) == (401, "unknown")
    dept.add("ivan", Role.INVESTIGATOR)
    single = _login(dept, "ivan", now=now)
    with pytest.raises(AccessRefused, match="second factor") as err:
        authorise(dept.conn, dept.cfg, single.token, roles=[Role.INVESTIGATOR], now=now)
    assert err.value.status == 403
    # "me" and MFA enrolment are open to any logged-in user, trained or not
    assert authorise(dept.conn, dept.cfg, single.token, trained=False, now=now).user.username == "ivan"
    secret, _codes = _enrol(dept, "ivan", now - timedelta(seconds=60))
    both = _login(dept, "ivan", totp=pyotp.TOTP(secret).at(now), now=now)
    ok = authorise(dept.conn, dept.cfg, both.token, roles=[Role.INVESTIGATOR, Role.SUPERVISOR], now=now)
    assert ok.user.username == "ivan" and ok.training is not None and ok.training.trained
    assert ok.actor().address == "10.0.0.7"
    with pytest.raises(AccessRefused, match="needs the auditor role") as err:
        authorise(dept.conn, dept.cfg, both.token, roles=[Role.AUDITOR], now=now)
    assert (err.value.status, err.value.code) == (403, "role")
    # a year on, training has lapsed: every data route says so (the session is renewed by use)
    later = now + timedelta(days=366)
    dept.conn.execute(
        "UPDATE sessions SET last_seen_at = %s, expires_at = %s", (later, later + timedelta(hours=1))
    )
    with pytest.raises(AccessRefused, match="no current ALPR training") as err:
        authorise(dept.conn, dept.cfg, both.token, roles=[Role.INVESTIGATOR], now=later)
    assert (err.value.status, err.value.code) == (403, "training")
    # without the MFA requirement a single factor suffices
    relaxed = AccessConfig(mfa_required=False)
    accounts.reset_second_factor(dept.conn, dept.admin, "ivan")
    plain = login(dept.conn, relaxed, KEY, username="ivan", password=PASSWORD)
    assert not plain.must_enrol_mfa
    authorise(dept.conn, relaxed, plain.token, roles=[Role.INVESTIGATOR])


def test_a_forced_password_change_blocks_routes_with_roles(dept: Department) -> None:
    dept.add("aud", Role.AUDITOR)
    accounts.reset_password(dept.conn, dept.admin, "aud", "temporary passphrase 1")
    issued = _login(dept, "aud", "temporary passphrase 1")
    assert issued.must_change_password
    with pytest.raises(AccessRefused, match="change your password"):
        authorise(dept.conn, dept.cfg, issued.token, roles=[Role.AUDITOR])
    accounts.change_password(dept.conn, dept.actor("aud"), "temporary passphrase 1", "my own passphrase 22")
    authorise(dept.conn, dept.cfg, issued.token, roles=[Role.AUDITOR])


def test_the_totp_key_is_made_once_with_owner_only_access(tmp_path: Path) -> None:
    key_file = mfa.totp_key_file(tmp_path)
    assert key_file == tmp_path / "secrets" / "totp.key"
    key = mfa.totp_key(None, key_file)
    assert mfa.totp_key(None, key_file) == key and len(key) == 44
    assert (key_file.stat().st_mode & 0o777, key_file.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    configured = AccessConfig(totp_secret_key=KEY.decode()).totp_secret_key
    assert mfa.totp_key(configured, key_file) == KEY


def test_login_replaces_a_hash_made_with_other_parameters(
    dept: Department, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped argon2id parameters end to end: a hash made at test cost is replaced at login."""
    monkeypatch.undo()
    issued = _login(dept, "ada")  # ada's hash was made at test cost: login replaces it
    assert issued.user.username == "ada"
    stored = dept.conn.execute("SELECT password_hash FROM users WHERE username = 'ada'").fetchone()
    assert stored is not None and stored[0].startswith("$argon2id$v=19$m=65536,t=4,p=2$")
    assert _login(dept, "ada").user.username == "ada"
