"""Service URLs: the forms operators write, the forms clients need, and the forms safe to print.

Configured URLs may carry passwords (`redis://:pw@host`, `postgresql://u:pw@host/db?password=…`), and
they end up in error messages, `platewatch doctor` output and logs, so everything that shows a URL goes
through `redact_url`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from ..redaction import SECRET_KEYS, secret_assignment

DEFAULT_KAFKA_PORT = 9092
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
# libpq also takes `host=h user=u password='p w'`; operators paste that into database_url too.
_DSN_SECRET = secret_assignment(r"\S+")


def redact_url(url: str) -> str:
    """The URL with any password (in the user part or the query) replaced by `***`."""
    if "://" not in url:
        return _DSN_SECRET.sub(r"\1\2***", url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hosts}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key.lower() in SECRET_KEYS for key, _ in pairs):
            query = urlencode([(k, "***" if k.lower() in SECRET_KEYS else v) for k, v in pairs], safe="*/:")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str) -> list[str]:
    """Every password in `url`, raw and percent-decoded, so it can be cut out of library messages."""
    found: list[str] = [m.group(3).strip("'") for m in _DSN_SECRET.finditer(url)]
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        found.append(userinfo.split(":", 1)[1])
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() in SECRET_KEYS]
    found += [unquote(s) for s in found] + [quote(s, safe="") for s in found]
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """`text` with any password of `url` replaced by `***` (client errors sometimes echo their input)."""
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text


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
