"""First start: an `admin` account, so a fresh install can be administered from the web at all.

`platewatch up` on a database without users creates it with a random password that the password
policy accepts, and prints that password once; it must be changed at first login. The admin holds
the admin role only, which reaches no read data: a trained investigator is added with
`platewatch user …` and `platewatch training …` (policy 462.2(d)).
"""

from __future__ import annotations

import secrets
import string

import psycopg

from .accounts import create_user, request_role
from .directory import Actor
from .passwords import DEFAULT_RULES, PasswordRejected, check_password
from .roles import Role

ADMIN = "admin"
_LOCK_KEY = 0x7077_6164  # "pwad": two first starts at once create one admin
_ALPHABET = string.ascii_letters + string.digits


def generate_password(username: str, length: int = 20) -> str:
    """A random password (about 119 bits at 20 characters) that the policy accepts for `username`."""
    while True:
        password = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        try:
            check_password(password, username, DEFAULT_RULES)
        except PasswordRejected:
            continue
        return password


def ensure_first_admin(
    conn: psycopg.Connection, operator: Actor, organisation: str = "administration"
) -> str | None:
    """Create `admin` when there are no users at all; its password, or None when users exist."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        row = conn.execute("SELECT EXISTS (SELECT 1 FROM users)").fetchone()
        if row is None or row[0]:
            return None
        password = generate_password(ADMIN)
        create_user(
            conn,
            operator,
            username=ADMIN,
            display_name="Administrator",
            organisation=organisation,
            password=password,
        )
        request_role(conn, operator, ADMIN, Role.ADMIN, reason="first start")
    return password
