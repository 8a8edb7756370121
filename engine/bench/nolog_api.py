"""`platewatch bench audit`'s baseline: an API process whose routes write no access-log row.

Only so the bench can show what the access log adds to a search against what a search costs
without it, on the same machine in the same run (the machine's load moves between runs). It is the
ordinary app with `deps.write`, `deps.begin_row` and `deps.statement_row` made no-ops, and it
refuses any database but a bench's scratch one (`pw_bench_…`, made and dropped by the bench), so it
cannot serve a site's data unlogged.

Run as `python -m platewatch.engine.bench.nolog_api --host H --port P` with the environment an
instance of `platewatch api` gets (`_instance_env`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import uvicorn

from platewatch.engine.api import create_api, deps
from platewatch.engine.config import load_settings
from platewatch.engine.logs import setup_logging
from platewatch.engine.policy.access_log import LogEntry, ResultRow
from platewatch.engine.policy.log_alongside import AlongsideWriter, Begun

SCRATCH_PREFIX = "pw_bench_"


def _no_row(conn: psycopg.Connection, entry: LogEntry, *, flushed: bool = True) -> None:
    """The baseline's `deps.write`: the entry is checked as append checks it, and not written."""
    entry.check()


def _no_access_row(writer: AlongsideWriter, entry: LogEntry) -> Begun:
    """The baseline's `deps.begin_row`: checked, not written, nothing to wait for."""
    entry.check()
    return Begun.done(None)


class Unlogged(ResultRow):
    """The baseline's row in the query's statement: none, only the server's clock once the query is
    done, so the baseline's instances observe on `platewatch_access_log_wait_seconds` the part of a
    logged search's wait that is not the log's (the result's way back to the API's thread, its
    wake-up), from the query's end to the answer (`deps.Caller.in_statement`)."""

    def statement(
        self, found: str, params: dict[str, Any], ctes: Sequence[str], key: str, order: str, limit: int
    ) -> str:
        head = "WITH " + "".join(f"{c}, " for c in ctes)
        return (
            f"{head}pw_found AS ({found}) SELECT pw_found.*,"
            " extract(epoch FROM clock_timestamp())::float8 AS pw_log_done"
            f" FROM pw_found ORDER BY {order}"
        )

    def rows(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        self.done_at = float(rows[0]["pw_log_done"]) if rows else time.time()
        return [{k: v for k, v in r.items() if not k.startswith("pw_log_")} for r in rows]


def _no_statement_row(entry: LogEntry) -> ResultRow:
    """The baseline's `deps.statement_row`: checked, and no row for the query to write (`Unlogged`)."""
    entry.check()
    return Unlogged(entry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    s = load_settings()
    setup_logging(s.logging.level)
    url = s.services.database_url
    name = psycopg.conninfo.conninfo_to_dict(url).get("dbname", "") if url else ""
    if not str(name).startswith(SCRATCH_PREFIX):
        raise SystemExit(f"the no-log baseline serves only a bench's scratch database ({SCRATCH_PREFIX}…)")
    deps.write = _no_row
    deps.begin_row = _no_access_row
    deps.statement_row = _no_statement_row
    app = create_api(s, database_url=url, redis_url=s.services.redis_url)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None)


if __name__ == "__main__":
    main()
