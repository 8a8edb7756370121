"""The second factor: TOTP (RFC 6238, via pyotp) and single-use recovery codes.

TOTP secrets are stored encrypted (Fernet: AES-128-CBC + HMAC-SHA256) with a key from
configuration, so a copy of the database alone does not let anyone mint codes. A code is accepted
once: the time step it matched is recorded, and a code of that step or an earlier one is refused,
so a code read over someone's shoulder cannot be replayed within its 30 seconds. Recovery codes are
80 random bits each, stored as SHA-256, and consumed by an UPDATE that only one login can win.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyotp
from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from . import access_log
from .directory import Actor, acting_user
from .errors import NotPermitted, PolicyError

ISSUER = "platewatch"
RECOVERY_CODES = 10
_STEP_S = 30
_TOTP_DIGITS = 6


@dataclass(frozen=True)
class TotpEnrolment:
    """What the user's authenticator app needs; shown once, then only the encrypted secret remains."""

    secret: str  # base32
    provisioning_uri: str  # otpauth:// (render as a QR code)


def totp_key_file(data_dir: Path) -> Path:
    """Where a generated key lives when `access.totp_secret_key` is not set."""
    return data_dir / "secrets" / "totp.key"


def totp_key(configured: SecretStr | None, key_file: Path) -> bytes:
    """The Fernet key: the configured one, or one generated once into `key_file` (mode 0600)."""
    if configured is not None:
        return configured.get_secret_value().encode()
    try:
        return key_file.read_bytes().strip()
    except FileNotFoundError:
        pass
    key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return key_file.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    return key


def _fernet(key: bytes) -> Fernet:
    try:
        return Fernet(key)
    except ValueError:
        raise PolicyError("the TOTP secret key is not a valid Fernet key (access.totp_secret_key)") from None


def _decrypt(key: bytes, token: bytes) -> str:
    try:
        return _fernet(key).decrypt(bytes(token)).decode()
    except InvalidToken:
        raise PolicyError(
            "the stored TOTP secret cannot be decrypted with the configured key "
            "(access.totp_secret_key changed?); an admin must reset this user's second factor"
        ) from None


def _code_hash(code: str) -> bytes:
    return hashlib.sha256(normalise_recovery_code(code).encode()).digest()


def normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 16 characters, 80 bits
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def begin_enrolment(conn: psycopg.Connection, key: bytes, actor: Actor) -> TotpEnrolment:
    """Start (or restart) TOTP enrolment for the acting user; nothing changes until `confirm_enrolment`."""
    user = acting_user(conn, actor)
    if user is None:
        raise NotPermitted("the server operator has no second factor to enrol; log in as a user")
    secret = pyotp.random_base32()
    conn.execute(
        "UPDATE users SET totp_pending = %s WHERE user_id = %s",
        (_fernet(key).encrypt(secret.encode()), user.user_id),
    )
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return TotpEnrolment(secret=secret, provisioning_uri=uri)


def _matching_step(secret: str, code: str, now: datetime, after_step: int | None) -> int | None:
    code = "".join(code.split())
    if len(code) != _TOTP_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // _STEP_S
    for step in (current - 1, current, current + 1):  # one step of clock drift either way
        if after_step is not None and step <= after_step:
            continue
        if hmac.compare_digest(totp.at(step * _STEP_S), code):
            return step
    return None


def confirm_enrolment(
    conn: psycopg.Connection, key: bytes, actor: Actor, code: str, now: datetime | None = None
) -> tuple[str, ...]:
    """Activate the pending secret once a code from it checks; returns fresh recovery codes (shown once)."""
    at = now or datetime.now(UTC)
    user = acting_user(conn, actor)
    if user is None:
        raise NotPermitted("the server operator has no second factor to enrol; log in as a user")
    row = conn.execute("SELECT totp_pending FROM users WHERE user_id = %s", (user.user_id,)).fetchone()
    if row is None or row[0] is None:
        raise PolicyError("no TOTP enrolment is in progress; start one first")
    step = _matching_step(_decrypt(key, row[0]), code, at, None)
    if step is None:
        raise PolicyError(
            "that code does not match; check the authenticator app's clock and try the next code"
        )
    with conn.transaction():
        conn.execute(
            "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_enrolled_at = %s,"
            " totp_last_step = %s WHERE user_id = %s",
            (at, step, user.user_id),
        )
        codes = _replace_recovery_codes(conn, user.user_id)
        access_log.append(conn, access_log.LogEntry.by(actor, "mfa.enrol", terms={"user": user.username}))
    return codes


def _replace_recovery_codes(conn: psycopg.Connection, user_id: int) -> tuple[str, ...]:
    codes = tuple(_new_recovery_code() for _ in range(RECOVERY_CODES))
    conn.execute("DELETE FROM recovery_codes WHERE user_id = %s", (user_id,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO recovery_codes (user_id, code_hash) VALUES (%s, %s)",
            [(user_id, _code_hash(c)) for c in codes],
        )
    return codes


def new_recovery_codes(conn: psycopg.Connection, actor: Actor) -> tuple[str, ...]:
    """Replace the acting user's recovery codes (the old ones stop working); logged."""
    user = acting_user(conn, actor)
    if user is None or not user.mfa_enrolled:
        raise PolicyError("recovery codes come with an enrolled second factor; enrol TOTP first")
    with conn.transaction():
        codes = _replace_recovery_codes(conn, user.user_id)
        access_log.append(
            conn, access_log.LogEntry.by(actor, "mfa.recovery_codes", terms={"user": user.username})
        )
    return codes


def check_totp(
    conn: psycopg.Connection, key: bytes, user_id: int, code: str, now: datetime | None = None
) -> bool:
    """True once per code: the matched step is recorded atomically, so a replay (even concurrent) fails."""
    at = now or datetime.now(UTC)
    row = conn.execute(
        "SELECT totp_secret, totp_last_step FROM users WHERE user_id = %s", (user_id,)
    ).fetchone()
    if row is None or row[0] is None:
        return False
    step = _matching_step(_decrypt(key, row[0]), code, at, row[1])
    if step is None:
        return False
    won = conn.execute(
        "UPDATE users SET totp_last_step = %s WHERE user_id = %s"
        " AND (totp_last_step IS NULL OR totp_last_step < %s) RETURNING 1",
        (step, user_id, step),
    ).fetchone()
    return won is not None


def use_recovery_code(conn: psycopg.Connection, user_id: int, code: str, now: datetime | None = None) -> bool:
    """True if the code was unused; it is used up whether or not the rest of the login succeeds."""
    at = now or datetime.now(UTC)
    won = conn.execute(
        "UPDATE recovery_codes SET used_at = %s WHERE user_id = %s AND code_hash = %s AND used_at IS NULL"
        " RETURNING 1",
        (at, user_id, _code_hash(code)),
    ).fetchone()
    return won is not None


def recovery_codes_left(conn: psycopg.Connection, user_id: int) -> int:
    row = conn.execute(
        "SELECT count(*) FROM recovery_codes WHERE user_id = %s AND used_at IS NULL", (user_id,)
    ).fetchone()
    return int(row[0]) if row else 0


def clear_second_factor(conn: psycopg.Connection, user_id: int) -> None:
    """Forget the secret and codes (an admin's reset, logged by the caller): the user enrols again."""
    conn.execute(
        "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_enrolled_at = NULL,"
        " totp_last_step = NULL WHERE user_id = %s",
        (user_id,),
    )
    conn.execute("DELETE FROM recovery_codes WHERE user_id = %s", (user_id,))
