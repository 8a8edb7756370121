"""docker/compose.yaml keeps the production rules that matter when someone edits it: secrets only from
the env file, nothing but the API published, Redis behind a password, the API on TLS, one image
store for every worker. (`docker compose config` checks the syntax in .ci/run where a client exists.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return loaded


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    return {str(k): str(v) for k, v in env.items()}


def test_only_the_api_publishes_a_port(compose: dict[str, Any]) -> None:
    published = {name for name, svc in compose["services"].items() if svc.get("ports")}
    assert published == {"api"}


def test_no_secret_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in _env(service).items():
            assert not re.search(r"PASSWORD|SECRET|TOKEN|KEY$", key), f"{name}: {key} belongs in the env file"
            assert not re.search(r"://[^/\s@]*:[^@\s]*@", value), f"{name}: a password inside {key}"
    for name in ("redis", "timescaledb", "migrate", "worker", "api"):
        assert compose["services"][name]["env_file"] == ["${PLATEWATCH_SECRETS:-secrets.env}"], name


def test_the_example_env_file_names_every_secret_and_holds_none(compose: dict[str, Any]) -> None:
    example = dict(
        line.split("=", 1)
        for line in (DOCKER / "secrets.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for key in (
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "PLATEWATCH_SERVICES__DATABASE_URL",
        "PLATEWATCH_SERVICES__REDIS_URL",
        "PLATEWATCH_ACCESS__TOTP_SECRET_KEY",
    ):
        assert "CHANGE_ME" in example[key], key
    ignored = (DOCKER.parent / ".gitignore").read_text().splitlines()
    assert "docker/secrets.env" in ignored and "docker/tls/" in ignored


def test_redis_asks_for_a_password(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert '--requirepass "$$REDIS_PASSWORD"' in " ".join(redis["command"])
    assert "REDISCLI_AUTH" in " ".join(redis["healthcheck"]["test"])


def test_the_api_serves_tls_and_every_instance_shares_the_image_store(compose: dict[str, Any]) -> None:
    services = compose["services"]
    api = _env(services["api"])
    assert api["PLATEWATCH_API__TLS_CERTFILE"] and api["PLATEWATCH_API__TLS_KEYFILE"]
    assert any(str(v).endswith(":/run/platewatch/tls:ro") for v in services["api"]["volumes"])
    images = {_env(services[n]).get("PLATEWATCH_STORE__IMAGES") for n in ("worker", "api")}
    assert len(images) == 1 and None not in images
    shared = str(images.pop())
    for name in ("worker", "api"):
        mounts = [str(v).split(":") for v in services[name]["volumes"]]
        assert any(m[0] in compose["volumes"] and shared.startswith(m[1]) for m in mounts), name
