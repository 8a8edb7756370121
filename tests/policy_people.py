"""A small department for the policy tests: an admin, a trained supervisor, and helpers to add people.

Built the way a real site starts: the server operator creates the admin and the first supervisor,
approves the supervisor's role and records their training (allowed only because no trained
supervisor exists yet); everything after that goes through the admin and the supervisor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from argon2 import PasswordHasher

from platewatch.engine.config.access import AccessConfig
from platewatch.engine.policy import accounts, passwords, training
from platewatch.engine.policy.directory import Actor, User, get_user
from platewatch.engine.policy.roles import Role

PASSWORD = "correct horse battery staple"
COURSE = "ALPR operation and data access"
KEY = b"x" * 43 + b"="  # a valid Fernet key (urlsafe base64 of 32 bytes)
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass
class Department:
    conn: psycopg.Connection
    cfg: AccessConfig
    operator: Actor
    admin: Actor
    supervisor: Actor

    def add(self, username: str, *roles: Role, trained: bool = True, approver: Actor | None = None) -> User:
        """A user holding `roles` (read roles approved by the supervisor), trained unless told otherwise."""
        accounts.create_user(
            self.conn,
            self.admin,
            username=username,
            display_name=username.title(),
            organisation="PAPD",
            password=PASSWORD,
            must_change_password=False,
        )
        for role in roles:
            grant = accounts.request_role(self.conn, self.admin, username, role)
            if grant.status == "pending":
                accounts.approve_grant(self.conn, self.cfg, approver or self.supervisor, grant.grant_id)
        if trained:
            training.record_training(
                self.conn, self.cfg, self.supervisor, username, COURSE, datetime.now(UTC) - timedelta(days=1)
            )
        return get_user(self.conn, username)

    def actor(self, username: str, address: str | None = "10.0.0.5") -> Actor:
        return get_user(self.conn, username).as_actor(address)


def found_department(conn: psycopg.Connection, cfg: AccessConfig | None = None) -> Department:
    cfg = cfg or AccessConfig()
    operator = Actor.console("tester")
    accounts.create_user(
        conn, operator, username="ada", display_name="Ada Admin", organisation="PAPD",
        password=PASSWORD, must_change_password=False,
    )  # fmt: skip
    accounts.request_role(conn, operator, "ada", Role.ADMIN)
    accounts.create_user(
        conn, operator, username="sam", display_name="Sam Supervisor", organisation="PAPD",
        password=PASSWORD, must_change_password=False,
    )  # fmt: skip
    grant = accounts.request_role(conn, operator, "sam", Role.SUPERVISOR)
    accounts.approve_grant(conn, cfg, operator, grant.grant_id)  # bootstrap: no supervisor yet
    training.record_training(conn, cfg, operator, "sam", COURSE, datetime.now(UTC) - timedelta(days=1))
    admin = get_user(conn, "ada").as_actor("10.0.0.1")
    supervisor = get_user(conn, "sam").as_actor("10.0.0.2")
    return Department(conn, cfg, operator, admin, supervisor)


def cheap_hashes(monkeypatch: object) -> None:
    """Argon2 at test cost: the policy is the same, the ~100 ms per hash is not needed here."""
    monkeypatch.setattr(passwords, "_hasher", CHEAP_HASHER)  # type: ignore[attr-defined]
