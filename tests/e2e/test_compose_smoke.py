"""The production compose stack comes up, answers over HTTPS and goes away, where a docker daemon
answers (skipped elsewhere, with the reason). Builds the image: minutes, not for every run."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from self_signed import self_signed

pytestmark = pytest.mark.slow
COMPOSE = Path(__file__).resolve().parents[2] / "docker" / "compose.yaml"
CONTAINER_UID = 10462  # docker/Dockerfile


def _compose_command() -> list[str] | None:
    if shutil.which("docker") is None:
        return None
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        return None
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_compose_stack_comes_up_behind_tls(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no docker daemon answers (or no compose client): the compose stack is not started")
    tls = tmp_path / "tls"
    tls.mkdir()
    cert, key = self_signed(tls)
    cert.rename(tls / "tls.crt")
    key.rename(tls / "tls.key")
    if os.geteuid() == 0:
        os.chown(tls / "tls.key", CONTAINER_UID, -1)
    else:
        (tls / "tls.key").chmod(0o644)  # a throwaway key: the container's user must read it
    db, red = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    env_file = tmp_path / "secrets.env"
    env_file.write_text(
        f"POSTGRES_PASSWORD={db}\n"
        f"PLATEWATCH_SERVICES__DATABASE_URL=postgresql://platewatch:{db}@timescaledb:5432/platewatch\n"
        f"REDIS_PASSWORD={red}\nPLATEWATCH_SERVICES__REDIS_URL=redis://:{red}@redis:6379/0\n"
        f"PLATEWATCH_ACCESS__TOTP_SECRET_KEY={Fernet.generate_key().decode()}\n"
        f"PLATEWATCH_API__METRICS_TOKEN={secrets.token_urlsafe(16)}\n"
    )
    port = _free_port()
    env = os.environ | {
        "PLATEWATCH_SECRETS": str(env_file),
        "PLATEWATCH_TLS_DIR": str(tls),
        "PLATEWATCH_API_PORT": str(port),
    }
    project = ["-f", str(COMPOSE), "-p", f"pwsmoke{uuid.uuid4().hex[:8]}"]
    try:
        up = subprocess.run(
            [*command, *project, "up", "-d", "--build", "--wait"], env=env, capture_output=True, timeout=1800
        )
        assert up.returncode == 0, up.stderr.decode(errors="replace")[-4000:]
        trust = ssl.create_default_context(cafile=str(tls / "tls.crt"))
        deadline = time.monotonic() + 120
        while True:
            try:
                assert (
                    httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trust, timeout=5).json()["status"]
                    == "ok"
                )
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the API did not answer over HTTPS"
                time.sleep(2)
        ps = subprocess.run(
            [*command, *project, "ps", "--format", "{{.Service}} {{.Ports}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        published = [line for line in ps.stdout.splitlines() if "->" in line]
        assert all(line.startswith("api ") for line in published), ps.stdout
    finally:
        subprocess.run([*command, *project, "down", "-v"], env=env, capture_output=True, timeout=300)
