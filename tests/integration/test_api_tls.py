"""`platewatch api` serves HTTPS with the certificate from its configuration, and its session cookie is
then Secure; a self-signed certificate made here, a real process, a real TLS handshake."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from policy_people import KEY, PASSWORD, found_department
from self_signed import self_signed

from platewatch.engine.config import load_settings
from platewatch.engine.store import migrate

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_api_serves_https_from_configured_files_with_a_secure_cookie(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        found_department(conn)  # ada, an admin, can log in
    cert, key = self_signed(tmp_path)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATEWATCH_")}
    env |= {
        "PLATEWATCH_SERVICES__DATABASE_URL": database_url,
        "PLATEWATCH_SERVICES__REDIS_URL": redis_url,
        "PLATEWATCH_DATA_DIR": str(tmp_path / "data"),
        "PLATEWATCH_ACCESS__TOTP_SECRET_KEY": KEY.decode(),
        "PLATEWATCH_API__TLS_CERTFILE": str(cert),
        "PLATEWATCH_API__TLS_KEYFILE": str(key),
    }
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        api = subprocess.Popen(
            [sys.executable, "-m", "platewatch.engine", "api", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"https://127.0.0.1:{port}"
    trust = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 60
        while True:
            assert api.poll() is None, log.read_text(errors="replace")
            try:
                health = httpx.get(f"{base}/healthz", verify=trust, timeout=2)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.5)
        assert health.json()["status"] == "ok"

        # A client that does not trust the certificate is refused by the handshake.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{base}/healthz", timeout=5)
        # Plain HTTP on the TLS port gets no answer.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)

        login = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"username": "ada", "password": PASSWORD, "client": "browser"},
            verify=trust,
            timeout=30,
        )
        assert login.status_code == 200, login.text
        cookie = login.headers["set-cookie"].lower()
        assert "secure" in cookie.split(";")[1:] or "; secure" in cookie
        assert "httponly" in cookie
    finally:
        api.terminate()
        api.wait(30)


def test_tls_settings_come_in_pairs_and_make_the_cookie_secure() -> None:
    on = load_settings(api={"tls_certfile": "/etc/pw/api.crt", "tls_keyfile": "/etc/pw/api.key"})
    assert on.api.cookie_secure
    assert not load_settings().api.cookie_secure
    with pytest.raises(ValueError, match="go together"):
        load_settings(api={"tls_certfile": "/etc/pw/api.crt"})
