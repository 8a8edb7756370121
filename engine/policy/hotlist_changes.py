"""Hotlist edits in the access log: Redis commands carry no user, so the engine records what it sees.

An admin edits hotlists with redis-cli (docs/hotlist.md); Redis does not tell the engine who sent a
command. The worker's hotlist sync reports every change it applies (`HotlistChange`), and each
becomes one access-log row naming the list, the key, the fields before and after, and when the
change was seen. The row's user is `redis`: who it was is in Redis's own ACL LOG when each admin has
a Redis user of their own (docs/hotlist.md shows how).
"""

from __future__ import annotations

from typing import Any

from platewatch.engine.hotlist.sync import HotlistChange

from .access_log import LogEntry
from .directory import Actor

ACTION = "hotlist change"
REDIS = Actor(username="redis", organisation="not known: Redis commands carry no user", address="redis")


def _clean(text: str) -> str:
    """Text as the log can hold it: a NUL (which a malformed key or entry may carry) shown as \\0."""
    return text.replace("\x00", "\\0")


def _fields(fields: dict[str, Any] | None) -> dict[str, Any] | None:
    if fields is None:
        return None
    return {_clean(k): _clean(v) if isinstance(v, str) else v for k, v in fields.items()}


def change_entry(change: HotlistChange) -> LogEntry:
    """The access-log row for one change the sync saw."""
    terms: dict[str, Any] = {
        "list": change.list_name,
        "key": _clean(change.key),
        "entry": None if change.entry is None else _clean(change.entry),
        "operation": change.operation,
        "before": _fields(change.before),
        "after": _fields(change.after),
        "seen_at": change.seen_at,
    }
    if change.problem:
        terms["problem"] = change.problem
    return LogEntry.by(REDIS, ACTION, terms=terms)
