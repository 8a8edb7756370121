"""What the `platewatch hotlist` commands do to Redis, as functions (the CLI only prints).

Writes go through the same layout an admin uses with redis-cli, so the matcher cannot tell an
imported entry from a hand-made one; each entry is written with one DEL + HSET (+ EXPIREAT) in a
transaction so that a re-import never leaves old fields behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import redis

from platewatch.engine.config.base import NAME

from .entry import check_fields, check_text, clean_text
from .importers.base import ImportedEntry, ImportProblem
from .layout import LAYOUT_VERSION, Layout

IMPORT_BATCH = 1000


class AdminError(ValueError):
    """Input an admin typed that cannot be stored; the message says what to change."""


def check_list_name(name: str) -> None:
    if not NAME.match(name):
        raise AdminError(f"list name {name!r}: use 1-64 of a-z 0-9 _ - starting with a letter or digit")


def _stamp_layout(client: redis.Redis, layout: Layout) -> None:
    client.set(layout.version_key, str(LAYOUT_VERSION), nx=True)


def add_entry(
    client: redis.Redis,
    layout: Layout,
    list_name: str,
    text: str,
    fields: dict[str, str],
    expires_at: float | None = None,
) -> str:
    """Validate and write one entry; returns its key. Raises AdminError with the reason."""
    check_list_name(list_name)
    plate = clean_text(text)
    values = {k: v for k, v in fields.items() if v}
    problem = check_text(plate) or check_fields(values)
    if problem:
        raise AdminError(problem)
    key = layout.entry_key(list_name, plate)
    pipe = client.pipeline(transaction=True)
    pipe.delete(key)
    pipe.hset(key, mapping=values)  # type: ignore[arg-type]
    if expires_at is not None:
        pipe.expireat(key, int(expires_at))
    pipe.execute()
    _stamp_layout(client, layout)
    return key


def remove_entry(client: redis.Redis, layout: Layout, list_name: str, text: str) -> bool:
    check_list_name(list_name)
    return bool(client.delete(layout.entry_key(list_name, clean_text(text))))


@dataclass
class ImportReport:
    written: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
    removed: int = 0
    lapsed: int = 0  # entries whose expiry date had already passed: not written


def import_entries(
    client: redis.Redis,
    layout: Layout,
    list_name: str,
    items: Iterable[ImportedEntry | ImportProblem],
    *,
    expire_s: float | None = None,
    replace: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Write an importer's entries into `list_name`; `replace` drops the list's entries not in the feed."""
    check_list_name(list_name)
    report = ImportReport()
    seen: set[str] = set()
    now = time.time()
    pipe = client.pipeline(transaction=False)
    pending = 0
    for item in items:
        if isinstance(item, ImportProblem):
            report.problems.append(item)
            continue
        expires = item.expires_at
        if expire_s is not None:
            expires = min(expires, now + expire_s) if expires is not None else now + expire_s
        if expires is not None and expires <= now:
            report.lapsed += 1
            continue
        key = layout.entry_key(list_name, item.plate)
        seen.add(key)
        pipe.delete(key)
        pipe.hset(key, mapping=item.fields)  # type: ignore[arg-type]
        if expires is not None:
            pipe.expireat(key, int(expires))
        pending += 1
        if pending >= IMPORT_BATCH:
            pipe.execute()
            report.written += pending
            if progress:
                progress(pending)
            pending = 0
    if pending:
        pipe.execute()
        report.written += pending
        if progress:
            progress(pending)
    if replace:
        stale = [k for k in list_keys(client, layout, list_name) if k not in seen]
        for i in range(0, len(stale), IMPORT_BATCH):
            report.removed += int(client.delete(*stale[i : i + IMPORT_BATCH]))
    client.hset(layout.list_key(list_name), "imported_at", repr(now))  # alerts show the list's age
    _stamp_layout(client, layout)
    return report


def list_keys(client: redis.Redis, layout: Layout, list_name: str) -> Iterator[str]:
    for key in client.scan_iter(match=layout.list_entries_match(list_name), count=2000):
        yield key.decode() if isinstance(key, bytes) else str(key)


def list_names(client: redis.Redis, layout: Layout) -> dict[str, int]:
    """List name → number of entries in Redis (one SCAN over the layout)."""
    counts: dict[str, int] = {}
    for raw in client.scan_iter(match=layout.scan_match, count=5000):
        key = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        kind = layout.classify(key)
        if kind.kind == "entry":
            counts[kind.list_name] = counts.get(kind.list_name, 0) + 1
        elif kind.kind == "list":
            counts.setdefault(kind.list_name, 0)
    return counts
