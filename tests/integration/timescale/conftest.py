"""PGlite + TimescaleDB served over the wire (pglite-socket), for the `timescaledb` test group.

TimescaleDB cannot be installed on these machines, so its SQL runs on PGlite (PostgreSQL 17 and
TimescaleDB 2.23 compiled to WebAssembly). Its limits, and how the store meets them: one session
shared by every connection (psycopg with prepare_threshold=None, one connection at a time), no COPY
FROM (the writer detects PGlite and uses its INSERT path), policies never run on their own
(`CALL run_job(id)`), and libpq's SSL request must be turned off (sslmode=disable) or the server dies.
The group is skipped, saying why, when Node.js or the npm packages are missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
MODULES = ROOT / ".cache" / "pglite" / "node_modules"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pglite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh in-memory PGlite + TimescaleDB server for one test module."""
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: the TimescaleDB (PGlite) test group needs it")
    if not (MODULES / "@unni-craftsman" / "pglite").is_dir():
        setup = subprocess.run([str(HERE / "setup_pglite.sh")], capture_output=True, text=True, timeout=300)
        if not (MODULES / "@unni-craftsman" / "pglite").is_dir():
            pytest.skip(f"PGlite + TimescaleDB could not be installed from npm: {setup.stderr[-500:]}")
    port = _free_port()
    log = tmp_path_factory.mktemp("pglite") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["node", str(HERE / "pglite_server.mjs"), str(MODULES), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NODE_OPTIONS": "--max-old-space-size=2048"},
        )
    try:
        deadline = time.monotonic() + 120
        while b"LISTENING" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"PGlite server did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        yield f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres?sslmode=disable&gssencmode=disable"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
