"""Named placeholders turned into PostgreSQL's own (`$1`, `$2` …) once per statement text.

Why: psycopg converts a query's `%(name)s` placeholders on every execution, and caches the
conversion only for statements of 4 KB or less (`psycopg._queries.MAX_CACHED_STATEMENT_LENGTH`).
A search with its access-log row written by the same statement (`policy.access_log.ResultRow`) is
about 4.3 KB, so each search paid the conversion again, a regular-expression split of the whole
text: about 0.1 ms of the API's CPU per search, on a 2-core machine where 20 searching clients make
every millisecond of CPU a queue (docs/measuring.md, "Access log and login"). Converting here, with
a cache that keeps any length, and running the result on a `psycopg.RawCursor` (which sends the
text as it is) removes that work without depending on psycopg's private limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%|%")


class NativeSqlError(ValueError):
    """A statement with a placeholder this module does not convert (positional `%s`, a stray `%`)."""


@lru_cache(maxsize=512)
def native(sql: str) -> tuple[bytes, tuple[str, ...]]:
    """`sql` with each distinct `%(name)s` as `$n` (numbered in order of first use) and `%%` as `%`,
    encoded; and the names in `$n` order."""
    names: dict[str, int] = {}

    def swap(m: re.Match[str]) -> str:
        name = m.group(1)
        if name is None:
            if m.group(0) == "%%":
                return "%"
            raise NativeSqlError(
                f"unsupported placeholder at {m.start()}: only %(name)s and %% are converted"
            )
        if name not in names:
            names[name] = len(names) + 1
        return f"${names[name]}"

    text = _PLACEHOLDER.sub(swap, sql)
    return text.encode(), tuple(names)


def native_params(names: Sequence[str], params: Mapping[str, Any]) -> list[Any]:
    """The values of `params` in the order `native` numbered them (a missing one raises KeyError)."""
    return [params[n] for n in names]
