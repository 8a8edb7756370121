"""`platewatch login` and `platewatch logout`: the shell's user session with the API.

The data commands (`search`, and later `read`, `hold`, `export`) act as this user through the API,
so the policy checks and the access log see a named person, not a shell account. The password is
read without echo and sent only to the API; what is kept is a short-lived bearer token.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from platewatch.engine.commands.api_client import (
    ApiRefused,
    StoredLogin,
    checked,
    client,
    default_api_url,
    forget_login,
    load_login,
    save_login,
)
from platewatch.engine.commands.context import settings

out = Console()
err = Console(stderr=True)
_SECOND_FACTOR_CODES = {"mfa_required", "second_factor_required"}  # the password was right


def _unreachable(api: str, exc: httpx.HTTPError) -> typer.Exit:
    err.print(
        f"[red]cannot reach the API at {api}[/red] ({type(exc).__name__}); "
        "is `platewatch up` or `platewatch api` running there?",
        highlight=False,
    )
    return typer.Exit(1)


def _post_login(api: str, body: dict[str, Any]) -> dict[str, Any]:
    with client(api) as http:
        try:
            answer = checked(http.post("/api/v1/auth/login", json=body))
        except httpx.HTTPError as exc:
            raise _unreachable(api, exc) from None
    if not isinstance(answer, dict) or not answer.get("token"):
        raise ApiRefused(502, "bad_answer", "the API's login answer carried no token")
    return answer


def _describe(user: dict[str, Any]) -> None:
    roles = ", ".join(user.get("roles") or ()) or "no roles"
    out.print(
        f"logged in as {user.get('display_name') or user.get('username')} "
        f"({user.get('username')}, {user.get('organisation')}); roles: {roles}",
        highlight=False,
    )
    if user.get("must_change_password"):
        out.print("[yellow]an admin set your password: change it before going on[/yellow]", highlight=False)
    if user.get("must_enrol_mfa"):
        out.print(
            "[yellow]your roles reach ALPR data, which needs a second factor:[/yellow] set up an "
            "authenticator app on the login page (/login), then log in again with a code",
            highlight=False,
        )
    training = user.get("training") or {}
    if training.get("current"):
        until = f" until {training['expires']}" if training.get("expires") else ""
        out.print(f"training: current{until}", highlight=False)
    else:
        out.print(
            "[yellow]training: not current[/yellow]; every request for ALPR data will be refused "
            f"(policy 462.2(d)): {training.get('reason') or 'no current training on record'}",
            highlight=False,
        )


def login(
    api: Annotated[
        str | None, typer.Option("--api", help="API base URL (default: http://<api.host>:<api.port>).")
    ] = None,
    username: Annotated[
        str | None, typer.Option("--username", help="Your username (asked if not given).")
    ] = None,
) -> None:
    """Log in to the API as yourself; the data commands then act as you (and are logged as you)."""
    url = (api or default_api_url(settings())).rstrip("/")
    name = username or typer.prompt("Username")
    password = typer.prompt("Password", hide_input=True)
    body: dict[str, Any] = {"username": name, "password": password, "client": "cli"}
    try:
        try:
            answer = _post_login(url, body)
        except ApiRefused as exc:
            if exc.code not in _SECOND_FACTOR_CODES:
                raise
            err.print(str(exc), highlight=False)
            code = typer.prompt("Code from your authenticator app (or a recovery code)").strip()
            digits = code.replace(" ", "")
            if digits.isdigit():
                body["totp"] = digits
            else:
                body["recovery_code"] = code
            answer = _post_login(url, body)
    except ApiRefused as exc:
        err.print(f"[red]login refused[/red]: {exc}", highlight=False)
        raise typer.Exit(1) from None
    user = answer.get("user") or {}
    path = save_login(
        StoredLogin(
            api=url,
            token=str(answer["token"]),
            expires_at=str(answer.get("expires_at") or ""),
            username=str(user.get("username") or name),
        )
    )
    _describe(user)
    out.print(f"session until {answer.get('expires_at')}; kept in {path}", highlight=False)


def logout() -> None:
    """End your API session (the token is revoked on the server) and forget it here."""
    stored = load_login()
    if stored is None:
        forget_login()
        out.print("not logged in")
        return
    revoked = False
    with client(stored.api, stored.token) as http:
        try:
            response = http.post("/api/v1/auth/logout")
        except httpx.HTTPError as exc:
            err.print(
                f"[yellow]could not reach {stored.api} to revoke the session[/yellow] ({type(exc).__name__});"
                f" it ends by itself at {stored.expires_at}",
                highlight=False,
            )
        else:
            revoked = response.is_success or response.status_code == 401  # 401: it had already ended
    forget_login()
    out.print(f"logged out{'' if revoked else ' here'} ({stored.username})", highlight=False)
