"""Hotlist entries an investigator adds for a major crime (policy 462.2(c)), in the same layout.

The entry is an ordinary one (the matcher cannot tell it from an import) with its case, its reason,
`source=investigator` and `owner`, the investigator told of each hit. Every such entry lapses: the
expiry is required and bounded, so a forgotten case does not keep a plate on watch. The entries are
also indexed in one SET (`Layout.case_entries_key`), so listing an investigator's own entries reads
only theirs and never SCANs lists of a million imported plates; an index member whose entry lapsed
or was removed another way is dropped when it is next listed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from platewatch.engine.config.sections import HotlistConfig

from .admin import AdminError, add_entry, check_list_name
from .entry import check_text, clean_text, is_pattern
from .layout import Layout

SOURCE = "investigator"
DAY_S = 86400


@dataclass(frozen=True, slots=True)
class CaseEntry:
    list_name: str
    entry: str
    key: str
    fields: dict[str, str]
    expires_in_s: int | None


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _hash(client: redis.Redis, key: str) -> dict[str, str]:
    raw: dict[object, object] = client.hgetall(key)  # type: ignore[assignment]
    return {_text(k): _text(v) for k, v in raw.items()}


def list_allows_partial(client: redis.Redis, layout: Layout, config: HotlistConfig) -> bool:
    """The list's `partial` setting as the matcher reads it: Redis over the configuration."""
    stored = client.hget(layout.list_key(config.name), "partial")
    if stored is None:
        return config.partial
    return _text(stored).strip().lower() in {"1", "true", "yes", "on"}


def check_case_entry(
    client: redis.Redis,
    layout: Layout,
    lists: Iterable[HotlistConfig],
    list_name: str,
    text: str,
    expires_at: float,
    max_days: int,
    now: float,
) -> str:
    """The canonical plate or pattern, or AdminError with what to change."""
    check_list_name(list_name)
    configured = {h.name: h for h in lists}
    config = configured.get(list_name)
    if config is None:
        names = ", ".join(sorted(configured)) or "none"
        raise AdminError(f"list {list_name!r} is not a configured hotlist (configured: {names})")
    plate = clean_text(text)
    problem = check_text(plate)
    if problem:
        raise AdminError(problem)
    if is_pattern(plate) and not list_allows_partial(client, layout, config):
        raise AdminError(
            f"list {list_name!r} does not take partial plates: enter the full plate or use a list "
            "with partial: true"
        )
    if expires_at <= now:
        raise AdminError("the expiry must be in the future")
    if expires_at > now + max_days * DAY_S:
        raise AdminError(f"the expiry may be at most {max_days} days ahead (case_entries.max_days)")
    return plate


def add_case_entry(
    client: redis.Redis,
    layout: Layout,
    list_name: str,
    plate: str,
    fields: dict[str, str],
    expires_at: float,
    *,
    may_replace_others: bool,
) -> str:
    """Write the entry and index it; an entry someone else owns (or an admin's) is not replaced
    unless `may_replace_others` (a supervisor): an investigator cannot silently overwrite it."""
    key = layout.entry_key(list_name, plate)
    existing = _hash(client, key)
    if existing and existing.get("owner") != fields.get("owner") and not may_replace_others:
        who = existing.get("owner") or existing.get("added_by") or "an admin"
        raise AdminError(f"{key} is already listed by {who}; ask them or a supervisor")
    key = add_entry(client, layout, list_name, plate, fields, expires_at)
    client.sadd(layout.case_entries_key, key)
    return key


def case_entries(client: redis.Redis, layout: Layout, owner: str | None) -> list[CaseEntry]:
    """The indexed entries (`owner` None: everyone's), newest expiry last; lapsed ones leave the index."""
    members = sorted(_text(m) for m in client.smembers(layout.case_entries_key))  # type: ignore[union-attr]
    found: list[CaseEntry] = []
    gone: list[str] = []
    for key in members:
        fields = _hash(client, key)
        if fields.get("source") != SOURCE or not fields.get("owner"):
            gone.append(key)
            continue
        if owner is not None and fields["owner"] != owner:
            continue
        kind = layout.classify(key)
        ttl = int(client.ttl(key))  # type: ignore[arg-type]
        found.append(CaseEntry(kind.list_name, kind.text, key, fields, None if ttl < 0 else ttl))
    if gone:
        client.srem(layout.case_entries_key, *gone)
    return found


def case_entry(client: redis.Redis, layout: Layout, list_name: str, text: str) -> tuple[str, dict[str, str]]:
    check_list_name(list_name)
    key = layout.entry_key(list_name, clean_text(text))
    return key, _hash(client, key)


def remove_case_entry(client: redis.Redis, layout: Layout, key: str) -> bool:
    pipe = client.pipeline(transaction=True)
    pipe.delete(key)
    pipe.srem(layout.case_entries_key, key)
    removed, _ = pipe.execute()
    return bool(removed)


def expiry_from_now(days: float, now: float | None = None) -> float:
    return (time.time() if now is None else now) + days * DAY_S
