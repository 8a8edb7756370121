"""Service URLs: the forms operators write and the forms clients need.

Configured URLs may carry passwords (`redis://:pw@host`, `postgresql://u:pw@host/db?password=…`);
whatever shows one goes through `platewatch.engine.redaction.redact_url`.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

DEFAULT_KAFKA_PORT = 9092
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def broker_hosts(url: str) -> list[tuple[str, int]]:
    """(host, port) of each bootstrap server in `kafka://h1:9092,h2:9092`, `h1:9092;h2` or `kafka://h1`.

    A user part (`kafka://user:pw@host`) is dropped: SASL credentials are not configured through the URL.
    """
    hosts: list[tuple[str, int]] = []
    for item in re.split(r"[,;\s]+", url.strip()):
        if not item:
            continue
        item = _SCHEME.sub("", item).rstrip("/").rpartition("@")[2]
        host, port = _split_host_port(item)
        hosts.append((host, port))
    if not hosts:
        raise ValueError("a broker URL needs at least one host, e.g. kafka://127.0.0.1:9092")
    return hosts


def bootstrap_servers(url: str) -> str:
    """The `bootstrap_servers` string aiokafka wants: `h1:9092,h2:9092` (no scheme)."""
    return ",".join(f"{url_host(h)}:{p}" for h, p in broker_hosts(url))


def normalise_broker_url(url: str) -> str:
    """`kafka://h1:9092,h2:9092`: the form Faust's `broker` setting and our config both accept."""
    return f"kafka://{bootstrap_servers(url)}"


def _split_host_port(item: str) -> tuple[str, int]:
    if item.startswith("["):  # [::1]:9092
        host, _, rest = item[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif item.count(":") == 1:
        host, port_text = item.split(":")
    else:
        host, port_text = item, ""
    if not host:
        raise ValueError(f"a broker address needs a host name, got {item!r}")
    if not port_text:
        return host, DEFAULT_KAFKA_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"a broker address needs a port 1-65535, got {item!r}")
    return host, int(port_text)


def url_host(host: str) -> str:
    """`host` as it appears in a URL (IPv6 literals in brackets)."""
    return f"[{host}]" if ":" in host else host


def with_userinfo(url: str, user: str, password: str) -> str:
    """`url` with `user:password@` in place of any user part it had (both percent-quoted)."""
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{hosts}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def without_userinfo(url: str) -> str:
    """`url` with no user part: the address alone, for notes that must not hold a password."""
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, hosts, parts.path, parts.query, parts.fragment))
