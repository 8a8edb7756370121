"""Passwords of the embedded services, and the modes that keep the data directory to its owner.

The embedded PostgreSQL and Redis listen on a TCP port of this machine, so every local user can
reach them; a password each, generated on first start and kept in `<data_dir>/secrets/` (mode 0600,
beside the TOTP key), is what keeps other users out. The files are the boundary between OS users;
within platewatch the database roles are (postgres.py): the worker and the API connect as a role
that cannot change the access log, and only the processes that migrate or run the store's upkeep
read the superuser's password from here.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger("platewatch.services")

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
#: What every embedded server and the files platewatch writes get: nothing for group and others.
UMASK = 0o077


def secrets_dir(embedded_dir: Path) -> Path:
    """`<data_dir>/secrets`: the embedded services run in `<data_dir>/services`."""
    return embedded_dir.expanduser().absolute().parent / "secrets"


def read_password(embedded_dir: Path, name: str) -> str | None:
    """The stored password of `name` (`postgres`, `platewatch_app`, `redis`), or None if there is none."""
    try:
        return (secrets_dir(embedded_dir) / f"{name}.password").read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def password(embedded_dir: Path, name: str) -> str:
    """The password of `name`, generated once (URL-safe, 256 bits) into a 0600 file."""
    found = read_password(embedded_dir, name)
    if found:
        return found
    folder = secrets_dir(embedded_dir)
    folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    folder.chmod(PRIVATE_DIR)
    path = folder / f"{name}.password"
    value = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:  # another process made it first (or left it empty): theirs, if any
        found = read_password(embedded_dir, name)
        if found:
            return found
        path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value + "\n")
    log.info("generated the password of the embedded %s in %s (mode 0600)", name, path)
    return value


def tighten(directory: Path, *, passable: bool = False) -> None:
    """Make `directory` private to its owner (0700), with a log line when it was wider.

    An install from before kept its data directory 0755, every plate image readable by any local
    user. `passable` keeps others' search bit (0701: they may pass through to a name they know, never
    list or read): when we run as root the embedded PostgreSQL runs as its own system user and must
    reach its cluster below.
    """
    if not directory.is_dir():
        return
    mode = stat.S_IMODE(directory.stat().st_mode)
    allowed = PRIVATE_DIR | (stat.S_IXOTH if passable else 0)
    if mode & ~allowed:
        directory.chmod(mode & allowed)
        log.warning(
            "%s was readable by other users (mode %04o); it is %04o now", directory, mode, mode & allowed
        )
