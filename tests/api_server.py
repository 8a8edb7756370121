"""The real API on a loopback port, for tests that talk to it over HTTP (the browser and the CLI).

uvicorn runs in a background thread of the test process, so the test's monkeypatches (cheap
password hashes) hold inside the API too; the socket is bound before the server starts, so the
port is known and free without a retry loop.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pyotp
import uvicorn
from policy_people import KEY, Department

from platewatch.codecs import Read
from platewatch.engine.api import create_api
from platewatch.engine.config import Settings, load_settings
from platewatch.engine.policy import mfa
from platewatch.engine.store.copy_writer import ReadWriter
from platewatch.engine.store.images import DirectoryImageStore, store_read_images


def api_settings(data_dir: Path, database_url: str, redis_url: str, **overrides: object) -> Settings:
    return load_settings(
        data_dir=data_dir,
        services={"database_url": database_url, "redis_url": redis_url},
        access={"totp_secret_key": KEY.decode()},
        **overrides,
    )


@contextmanager
def serve_api(settings: Settings, timeout_s: float = 30.0) -> Iterator[str]:
    """Serve create_api(settings) on 127.0.0.1 until the block ends; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_api(settings),
            log_config=None,
            access_log=False,
            lifespan="on",
            ws_per_message_deflate=settings.api.ws_compression,
            timeout_graceful_shutdown=5,  # a websocket left open must not hold the test's teardown
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the API did not start (see the log above)")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
        sock.close()


def enrol_totp(dept: Department, username: str, at: datetime) -> tuple[pyotp.TOTP, tuple[str, ...]]:
    """Enrol the user's second factor as of `at` (in the past, so a login now may use the current code)."""
    enrolment = mfa.begin_enrolment(dept.conn, KEY, dept.actor(username))
    totp = pyotp.TOTP(enrolment.secret)
    codes = mfa.confirm_enrolment(dept.conn, KEY, dept.actor(username), totp.at(at), now=at)
    return totp, codes


def store_reads(database_url: str, reads: list[Read], images: Path | None = None) -> None:
    """The reads in the database as the store worker writes them, for the API to serve; with `images`,
    their crops and overviews in a directory image store there."""
    writer = ReadWriter(database_url)
    try:
        writer.write(reads)
    finally:
        writer.close()
    if images is not None:
        store_read_images(DirectoryImageStore(images), reads)
