"""When an embedded service dies under its platewatch: how soon to start it again, and the record of it.

A killed embedded Redis or PostgreSQL used to stay down until `platewatch up` itself was restarted,
while the worker retried its writes for ever. The supervisor (supervisor.py) now starts it again on the
same address and data directory; this module holds the two things that outlive one restart:

- `Backoff`: the first restart is immediate (clients are waiting), a service that keeps dying soon
  after each start waits 1, 2, 4 … 30 s, so a broken data directory does not spin a CPU.
- `RestartLog`: `<data_dir>/services/restarts.json`, one entry per service (count, last time, last exit
  status). A file rather than process memory: `platewatch doctor` runs in another process, and the
  API exposes the counts on its /metrics (`RestartsCollector`) without `up` serving metrics itself.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from .credentials import PRIVATE_FILE

FILE = "restarts.json"
#: A service that ran this long before it died counts as healthy: its next restart is immediate again.
STABLE_AFTER_S = 60.0
MAX_DELAY_S = 30.0
METRIC = "platewatch_embedded_service_restarts"


@dataclass
class Backoff:
    """Delay before the next restart of one service: 0 at first, doubling while it keeps dying young."""

    stable_after_s: float = STABLE_AFTER_S
    max_delay_s: float = MAX_DELAY_S
    failures: int = 0
    started_at: float = field(default_factory=time.monotonic)
    not_before: float = 0.0

    def died(self, now: float | None = None) -> float:
        """Note a death (or a failed start); returns the seconds to wait before the next start."""
        now = time.monotonic() if now is None else now
        if now - self.started_at >= self.stable_after_s:
            self.failures = 0
        delay = 0.0 if self.failures == 0 else min(self.max_delay_s, 2.0 ** (self.failures - 1))
        self.failures += 1
        self.not_before = now + delay
        return delay

    def due(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self.not_before

    def started(self, now: float | None = None) -> None:
        self.started_at = time.monotonic() if now is None else now


@dataclass(frozen=True)
class Restarts:
    """One service's record: how often it was started again, and the last time and why."""

    count: int
    last: str
    last_status: int | None


class RestartLog:
    """`restarts.json` in the embedded services' directory; atomic replace, owner-only."""

    def __init__(self, directory: Path) -> None:
        self.path = directory.expanduser().absolute() / FILE

    def read(self) -> dict[str, Restarts]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        found: dict[str, Restarts] = {}
        for name, entry in (data.get("services") or {}).items() if isinstance(data, dict) else ():
            try:
                status = entry.get("last_status")
                found[str(name)] = Restarts(
                    int(entry["count"]), str(entry["last"]), None if status is None else int(status)
                )
            except (AttributeError, KeyError, TypeError, ValueError):
                continue
        return found

    def record(self, name: str, status: int | None) -> Restarts:
        """Count one restart of `name` (its exit status, None if unknown) and return its record."""
        entries = self.read()
        previous = entries.get(name)
        entry = Restarts(
            count=(previous.count if previous else 0) + 1,
            last=datetime.now(UTC).isoformat(timespec="seconds"),
            last_status=status,
        )
        entries[name] = entry
        self._write(entries)
        return entry

    def _write(self, entries: dict[str, Restarts]) -> None:
        payload: dict[str, Any] = {"services": {n: asdict(e) for n, e in entries.items()}}
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(payload))
        tmp.replace(self.path)


class RestartsCollector(Collector):
    """Prometheus counter `platewatch_embedded_service_restarts_total{service}`, read from the log at
    each scrape: the process that restarts the services (`up`) serves no metrics of its own."""

    def __init__(self, directory: Path) -> None:
        self.log = RestartLog(directory)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            METRIC, "Embedded services started again after they died", labels=["service"]
        )
        for name, entry in sorted(self.log.read().items()):
            family.add_metric([name], entry.count)
        yield family
