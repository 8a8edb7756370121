"""`platewatch user …`: accounts and roles from the server's console (policy 462.2(d)(e)).

A role that reaches read data is requested here (`grant`) and approved by a trained supervisor;
the operator may approve only while no trained supervisor exists, so that the first one can be
made. Every change is in the access log under the operator's OS login.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from platewatch.engine.commands.operator import day, policy_database, refusals
from platewatch.engine.policy import accounts
from platewatch.engine.policy.bootstrap import generate_password
from platewatch.engine.policy.directory import check_username, list_users
from platewatch.engine.policy.passwords import check_password

out = Console()
user_app = typer.Typer(help="Accounts and roles: add, disable, enable, reset, list, grant, approve, review.")

Username = Annotated[str, typer.Argument(help="The account's username.")]
Generate = Annotated[
    bool,
    typer.Option("--generate-password", help="Generate a password and print it once, instead of asking."),
]


def _new_password(username: str, generate: bool) -> str:
    """Asked twice (or generated); checked against the policy before anything is stored."""
    with refusals():
        name = check_username(username)
        if generate:
            return generate_password(name)
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        check_password(password, name)
        return password


def _show_once(password: str) -> None:
    out.print(f"password (shown once; it must be changed at first login): {password}", highlight=False)


@user_app.command("add")
def add(
    username: Username,
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    org: Annotated[str, typer.Option("--org", help="Organisation (agency) the user belongs to.")],
    clets: Annotated[
        bool, typer.Option("--clets", help="Authorised for CLETS/NCIC entries (policy 462.2(e)).")
    ] = False,
    generate: Generate = False,
) -> None:
    """Add an account with no roles; the password must be changed at first login."""
    password = _new_password(username, generate)
    with policy_database() as (conn, _s, operator):
        user = accounts.create_user(
            conn,
            operator,
            username=username,
            display_name=name,
            organisation=org,
            password=password,
            clets_authorised=clets,
        )
    out.print(
        f"added {user.username} ({user.display_name}, {user.organisation}) with no roles"
        f" (platewatch user grant {user.username} ROLE)",
        highlight=False,
    )
    if generate:
        _show_once(password)


@user_app.command("disable")
def disable(
    username: Username,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
) -> None:
    """Disable an account and end its sessions; its history stays."""
    with policy_database() as (conn, _s, operator):
        user = accounts.disable_user(conn, operator, username, reason)
    out.print(f"disabled {user.username}: {user.disabled_reason}")


@user_app.command("enable")
def enable(username: Username) -> None:
    """Enable a disabled or locked-out account."""
    with policy_database() as (conn, _s, operator):
        user = accounts.enable_user(conn, operator, username)
    out.print(f"enabled {user.username}")


@user_app.command("reset")
def reset(username: Username, generate: Generate = False) -> None:
    """Set a temporary password: sessions end, the lockout clears, it must be changed at next login."""
    password = _new_password(username, generate)
    with policy_database() as (conn, _s, operator):
        user = accounts.reset_password(conn, operator, username, password)
    out.print(f"password of {user.username} reset; their sessions ended")
    if generate:
        _show_once(password)


@user_app.command("list")
def list_cmd() -> None:
    """Every account with its roles and state."""
    with policy_database() as (conn, _s, _operator):
        users = list_users(conn)
    table = Table()
    for col in ("user", "name", "organisation", "roles", "MFA", "last login", "state"):
        table.add_column(col)
    for u in users:
        state = f"disabled: {u.disabled_reason}" if u.disabled else "active"
        table.add_row(
            u.username,
            u.display_name,
            u.organisation,
            ", ".join(sorted(u.roles)) or "-",
            "yes" if u.mfa_enrolled else "no",
            day(u.last_login_at) or "never",
            state,
        )
    out.print(table)


@user_app.command("grant")
def grant(
    username: Username,
    role: Annotated[
        str, typer.Argument(help="admin, supervisor, dispatcher, investigator, auditor or sharing_approver.")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why the user needs it (recorded).")] = "",
) -> None:
    """Ask for a role: admin and auditor at once, roles that reach read data after a supervisor approves."""
    with policy_database() as (conn, _s, operator):
        made = accounts.request_role(conn, operator, username, role, reason)
    if made.status == "pending":
        out.print(
            f"grant #{made.grant_id}: {made.role} for {made.username} awaits a supervisor's approval"
            f" (platewatch user approve {made.grant_id})"
        )
    else:
        out.print(f"grant #{made.grant_id}: {made.username} now holds {made.role}")


@user_app.command("approve")
def approve(
    grant_id: Annotated[int, typer.Argument(help="The grant's number (see `user grant`, `user review`).")],
    note: Annotated[str, typer.Option("--note", help="A note kept with the approval.")] = "",
) -> None:
    """Approve a pending grant (the operator may only while no supervisor with current training exists)."""
    with policy_database() as (conn, s, operator):
        made = accounts.approve_grant(conn, s.access, operator, grant_id, note)
    out.print(f"grant #{made.grant_id} approved: {made.username} now holds {made.role}")


@user_app.command("review")
def review() -> None:
    """The access review: who holds what, on whose say-so, training, and pending grants (logged)."""
    with policy_database() as (conn, s, operator):
        lines = accounts.access_review(conn, s.access, operator)
    table = Table(title="access review")
    for col in ("user", "organisation", "roles (granted by / approved by)", "training", "pending", "state"):
        table.add_column(col)
    for line in lines:
        roles = "\n".join(
            f"{h.role} ({h.granted_by}" + (f" / {h.approved_by})" if h.approved_by else ")")
            for h in line.holdings
        )
        training = (
            f"current to {day(line.training.expires_at)}"
            if line.training.trained
            else "missing: " + ", ".join(line.training.missing)
        )
        pending = ", ".join(f"#{g.grant_id} {g.role}" for g in line.pending)
        table.add_row(
            line.user.username,
            line.user.organisation,
            roles or "-",
            training,
            pending,
            "disabled" if line.user.disabled else "active",
        )
    out.print(table)
