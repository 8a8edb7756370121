"""The CLI as an API client: the stored login (a bearer token) and an HTTP client that carries it.

Data commands go through the API so that a search from the shell passes the same policy checks
and lands in the same access log as one from the browser. The token is a credential: it lives only
in `$XDG_CONFIG_HOME/platewatch/session.json` (mode 0600, directory 0700) and in the Authorization
header, and is never printed, logged or shown in a repr.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console

from platewatch.engine.config import Settings

LOGIN_FIRST = "not logged in: run `platewatch login` first"
_TIMEOUT_S = 30.0
_WILDCARDS = {"0.0.0.0", "::", ""}

# httpx logs each request's URL at INFO, and a search URL holds plates and case numbers.
logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass(frozen=True)
class StoredLogin:
    api: str
    token: str = field(repr=False)
    expires_at: str
    username: str

    def expired(self, now: datetime | None = None) -> bool:
        try:
            ends = datetime.fromisoformat(self.expires_at)
        except ValueError:
            return False  # the API decides; an unreadable time is not a reason to refuse here
        if ends.tzinfo is None:
            ends = ends.replace(tzinfo=UTC)
        return (now or datetime.now(UTC)) >= ends


class ApiRefused(Exception):
    """The API said no; `message` is its own sentence for the person at the keyboard."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        super().__init__(message)


def session_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "platewatch" / "session.json"


def default_api_url(settings: Settings) -> str:
    """Where `platewatch api` listens by default; a wildcard listen address is reached on loopback."""
    host = settings.api.host
    if host in _WILDCARDS:
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.api.port}"


def save_login(login: StoredLogin, path: Path | None = None) -> Path:
    """Write the login where only this OS user can read it (written aside, then renamed into place)."""
    target = path or session_file()
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(target.parent, 0o700)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(asdict(login), f)
            f.write("\n")
        os.chmod(temp, 0o600)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


def load_login(path: Path | None = None) -> StoredLogin | None:
    """The stored login, or None when there is none (or it is unreadable: log in again)."""
    try:
        data = json.loads((path or session_file()).read_text(encoding="utf-8"))
        return StoredLogin(
            api=str(data["api"]),
            token=str(data["token"]),
            expires_at=str(data.get("expires_at") or ""),
            username=str(data.get("username") or ""),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def forget_login(path: Path | None = None) -> bool:
    try:
        (path or session_file()).unlink()
    except FileNotFoundError:
        return False
    return True


def client(api: str, token: str | None = None) -> httpx.Client:
    headers = {"Accept": "application/json", "User-Agent": "platewatch-cli"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=api.rstrip("/"), headers=headers, timeout=_TIMEOUT_S)


def refusal(response: httpx.Response) -> ApiRefused:
    """The API's own code and message, whatever shape its error body has."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, Mapping) else None
    if isinstance(detail, Mapping):
        return ApiRefused(response.status_code, str(detail.get("code", "")), str(detail.get("message", "")))
    if isinstance(detail, str):
        return ApiRefused(response.status_code, "", detail)
    if isinstance(detail, list) and detail:
        parts = []
        for item in detail:
            if isinstance(item, Mapping):
                where = ".".join(str(x) for x in item.get("loc", ())[1:])
                parts.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
        return ApiRefused(response.status_code, "invalid", "; ".join(parts) or "the request was refused")
    return ApiRefused(response.status_code, "", f"the API answered {response.status_code}")


def checked(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer; ApiRefused otherwise."""
    if response.is_success:
        return response.json() if response.content else None
    raise refusal(response)


#: Answers about what was typed (exit 2, like a bad option), not about who typed it (exit 1).
_INPUT_STATUSES = frozenset({400, 404, 409, 413, 422})


def call_as_user(method: str, path: str, *, errors: Console, **request: Any) -> Any:
    """One request as the logged-in user; the JSON answer, or the API's refusal printed and an exit.

    Without a login (or with one that has ended) nothing is sent: the message says to log in. A
    refusal prints the API's own sentence (not an admin, training lapsed, no such entry) and exits
    2 for a problem with the input, 1 otherwise.
    """
    stored = load_login()
    if stored is None:
        errors.print(LOGIN_FIRST, highlight=False)
        raise typer.Exit(1)
    if stored.expired():
        errors.print(
            f"your login ended at {stored.expires_at}: run `platewatch login` again", highlight=False
        )
        raise typer.Exit(1)
    with client(stored.api, stored.token) as http:
        try:
            return checked(http.request(method, path, **request))
        except httpx.HTTPError as exc:
            errors.print(f"cannot reach the API at {stored.api} ({type(exc).__name__})", highlight=False)
            raise typer.Exit(1) from None
        except ApiRefused as exc:
            if exc.status in _INPUT_STATUSES:
                errors.print(f"[red]error[/red] {exc}", highlight=False)
                raise typer.Exit(2) from None
            hint = "; run `platewatch login` again" if exc.status == 401 else ""
            errors.print(f"[red]refused[/red]: {exc}{hint}", highlight=False)
            raise typer.Exit(1) from None
