"""The audit report (policy 462.4(c)): what an auditor checks in a period's access log, as figures.

Every figure is an SQL aggregate over the period's rows, not a walk in Python: three scans of the
period (one grouped by who/what/which flags, one by local day and hour, one for the rows an auditor
must see one by one, capped), so a month of a busy department's log, a million rows, reports in a few
seconds (`platewatch bench audit` measures it: `report_s`). Hotlist entries without an expiry come
from Redis, where hotlists live (docs/hotlist.md), and lapsed training from the training records.

What counts as what:
- a search is a row whose action is one of `audit.search_actions`, by a person (user id set);
- without a case number: an allowed search with neither a case number nor an alert id (the policy's
  purpose check refuses those, so any found means the check was bypassed; should be none);
- wildcard: the search had a `pattern`, a plate with `?`/`*`, or kind partial; fuzzy: `fuzzy` true
  or kind fuzzy (the search routes' terms);
- bulk: any row whose returned count is above `audit.bulk_results`, except the audit routes' own
  (`audit.*`: an auditor reading log rows is the audit, not data leaving);
- out of hours: a person's row at a local time outside `audit.working_days`/`working_hours`;
- exports and shares: actions `evidence.*`, `sharing.*`, `webhook.transfer`, and `audit.share_actions`;
- account and role changes: `user.*`, `role.*`, `mfa.reset`; failed logins: refused `login` rows.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import redis
from psycopg.rows import dict_row

from platewatch.engine.config.access import AccessConfig
from platewatch.engine.config.audit import AuditConfig
from platewatch.engine.hotlist.layout import Layout

from .training import lapsing

DETAIL_ROWS = 200  # rows of each kind listed one by one (the counts cover all)
TRANSFER_PREFIXES = ("evidence.", "sharing.", "webhook.transfer")
ACCOUNT_PREFIXES = ("user.", "role.")
ACCOUNT_ACTIONS = ("mfa.reset",)
HOTLIST_READS = ("hotlist.show", "hotlist.errors")  # hotlist.* actions that change nothing


def out_of_hours(local: str) -> str:
    """SQL: the local time `local` (a timestamp without zone) is outside the working days and hours
    (params days, start_t, end_t; see `hours_params`)."""
    return (
        f"NOT (extract(isodow FROM {local})::int = ANY(%(days)s)"
        f" AND {local}::time >= %(start_t)s::time AND {local}::time < %(end_t)s::time)"
    )


#: The same for an access-log row (params tz too).
OUT_OF_HOURS = out_of_hours("(time AT TIME ZONE %(tz)s)")

# One pass over the period, in two groupings at once (PostgreSQL hashes both in the same scan): by
# who, what and each flag, and by local hour. The local time is computed once a row, and the JSON
# terms are looked at only for searches.
_FLAGS = f"""
    SELECT GROUPING(hour) = 0 AS by_hour, hour,
           username, organisation, action, outcome, person, search, no_case,
           search AND (pattern OR coalesce(kind, '') IN ('partial', 'pattern', 'wildcard')
                       OR strpos(plate, '*') > 0 OR strpos(plate, '?') > 0) AS wildcard,
           search AND (fuzzy OR coalesce(kind, '') = 'fuzzy') AS fuzzy,
           bulk, person AND {out_of_hours("lt")} AS ooh, untrained,
           count(*) AS n, sum(returned_count) AS returned,
           count(*) FILTER (WHERE person) AS people, count(*) FILTER (WHERE person AND search) AS searches
    FROM (
        SELECT username, organisation, action, outcome, returned_count, user_id IS NOT NULL AS person,
               action = ANY(%(searches)s) AS search,
               coalesce(nullif(case_number, ''), nullif(alert_id, '')) IS NULL AS no_case,
               CASE WHEN action = ANY(%(searches)s) THEN terms ? 'pattern' END AS pattern,
               CASE WHEN action = ANY(%(searches)s) THEN terms->>'kind' END AS kind,
               CASE WHEN action = ANY(%(searches)s) THEN terms->>'plate' END AS plate,
               CASE WHEN action = ANY(%(searches)s) THEN terms @> '{{"fuzzy": true}}' END AS fuzzy,
               returned_count > %(bulk)s AND action NOT LIKE 'audit.%%' AS bulk,
               outcome = 'refused' AND coalesce(reason, '') LIKE 'training%%' AS untrained,
               lt, date_trunc('hour', lt) AS hour
        FROM (SELECT username, organisation, action, outcome, returned_count, user_id, case_number, alert_id,
                     terms, reason, time AT TIME ZONE %(tz)s AS lt
              FROM access_log WHERE time >= %(t0)s AND time < %(t1)s OFFSET 0) l
    ) r
    GROUP BY GROUPING SETS ((3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14), (hour))
"""

# The rows an auditor reads one by one, each kind capped at DETAIL_ROWS (oldest first).
_DETAIL = """
    SELECT kind, seq, time, username, organisation, action, outcome, purpose, case_number,
           returned_count, terms->>'user' AS subject, terms->>'role' AS role, reason
    FROM (
        SELECT k.kind, l.*, row_number() OVER (PARTITION BY k.kind ORDER BY l.seq) AS rn
        FROM access_log l CROSS JOIN LATERAL (VALUES
            (CASE WHEN l.action = ANY(%(searches)s) AND l.outcome = 'allowed' AND l.user_id IS NOT NULL
                   AND coalesce(nullif(l.case_number, ''), nullif(l.alert_id, '')) IS NULL
                  THEN 'no_case' END),
            (CASE WHEN l.returned_count > %(bulk)s AND l.action NOT LIKE 'audit.%%' THEN 'bulk' END),
            (CASE WHEN l.action LIKE 'evidence.%%' OR l.action LIKE 'sharing.%%'
                   OR l.action = 'webhook.transfer' OR l.action = ANY(%(shares)s) THEN 'transfer' END),
            (CASE WHEN l.action LIKE 'user.%%' OR l.action LIKE 'role.%%' OR l.action = 'mfa.reset'
                  THEN 'account' END)
        ) AS k(kind)
        WHERE l.time >= %(t0)s AND l.time < %(t1)s AND k.kind IS NOT NULL
          AND (l.returned_count > %(bulk)s OR l.action LIKE ANY(%(detail_like)s) OR l.action = ANY(%(shares)s)
               OR (l.action = ANY(%(searches)s) AND l.outcome = 'allowed' AND l.user_id IS NOT NULL
                   AND coalesce(nullif(l.case_number, ''), nullif(l.alert_id, '')) IS NULL))
    ) x WHERE rn <= %(cap)s ORDER BY kind, seq
"""


@dataclass
class RowRef:
    """One access-log row an auditor looks at (no read data beyond what the row itself names)."""

    seq: int
    time: datetime
    username: str
    organisation: str
    action: str
    outcome: str
    purpose: str | None
    case_number: str | None
    returned_count: int
    subject: str | None = None  # the account a change was made to
    role: str | None = None
    reason: str | None = None


@dataclass
class UserFigures:
    username: str
    organisation: str
    searches: int = 0
    returned: int = 0
    wildcard: int = 0
    fuzzy: int = 0
    no_case: int = 0
    bulk: int = 0
    out_of_hours: int = 0
    refused: int = 0


@dataclass
class AuditReport:
    """The period's figures. Counts cover every row; the `*_rows` lists are capped at DETAIL_ROWS."""

    time_from: datetime
    time_to: datetime
    generated_at: datetime
    timezone: str
    working: str  # the working days and hours, in words
    working_hours: tuple[str, str]
    bulk_threshold: int
    rows: int = 0
    refused: int = 0
    searches: int = 0
    searches_refused: int = 0
    searches_by_user: list[UserFigures] = field(default_factory=list)
    searches_by_organisation: dict[str, int] = field(default_factory=dict)
    searches_without_case: int = 0
    wildcard_searches: int = 0
    fuzzy_searches: int = 0
    bulk_results: int = 0
    out_of_hours: int = 0
    out_of_hours_by_user: dict[str, int] = field(default_factory=dict)
    by_hour: list[int] = field(default_factory=lambda: [0] * 24)  # people's rows per local hour
    by_day: list[tuple[date, int, int]] = field(default_factory=list)  # (day, people's rows, searches)
    transfers: dict[str, int] = field(default_factory=dict)  # exports and shares, by action
    hotlist_changes: dict[str, int] = field(default_factory=dict)
    hotlist_without_expiry: dict[str, int] | None = None  # per list; None: Redis not reachable
    hotlist_problem: str | None = None
    lapsed_training: list[dict[str, Any]] = field(default_factory=list)
    refused_untrained: int = 0
    failed_logins: int = 0
    failed_logins_by_user: dict[str, int] = field(default_factory=dict)
    lockouts: int = 0
    account_changes: dict[str, int] = field(default_factory=dict)
    without_case_rows: list[RowRef] = field(default_factory=list)
    bulk_rows: list[RowRef] = field(default_factory=list)
    transfer_rows: list[RowRef] = field(default_factory=list)
    account_rows: list[RowRef] = field(default_factory=list)
    #: alerts raised in the period, per hotlist, state and disposition: what the hits came to (the
    #: list owner's figure, and a check on false hits and verification)
    alert_outcomes: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 strings."""
        return _jsonable(asdict(self))  # type: ignore[no-any-return]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def hours_params(cfg: AuditConfig) -> dict[str, Any]:
    """The parameters `OUT_OF_HOURS` takes."""
    start, end = cfg.working_hours
    return {"tz": cfg.timezone, "days": list(cfg.working_days), "start_t": start, "end_t": end}


def _working_words(cfg: AuditConfig) -> str:
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    days = ", ".join(names[d - 1] for d in cfg.working_days)
    return f"{days} {cfg.working_hours[0]}-{cfg.working_hours[1]} ({cfg.timezone})"


def _is_transfer(action: str, cfg: AuditConfig) -> bool:
    return action.startswith(TRANSFER_PREFIXES) or action in cfg.share_actions


def _is_account_change(action: str) -> bool:
    return action.startswith(ACCOUNT_PREFIXES) or action in ACCOUNT_ACTIONS


def _is_hotlist_change(action: str) -> bool:
    return (action == "hotlist change" or action.startswith("hotlist.")) and action not in HOTLIST_READS


def hotlist_entries_without_expiry(client: redis.Redis, layout: Layout | None = None) -> dict[str, int]:
    """Entries with no expiry (TTL -1), per list. Policy 462.2(c) wants hotlist entries to lapse;
    one without an expiry stays until someone removes it by hand."""
    layout = layout or Layout()
    counts: Counter[str] = Counter()
    batch: list[tuple[str, str]] = []

    def flush() -> None:
        pipe = client.pipeline(transaction=False)
        for key, _ in batch:
            pipe.ttl(key)
        for (_, name), ttl in zip(batch, pipe.execute(), strict=True):
            if ttl == -1:
                counts[name] += 1
        batch.clear()

    for raw in client.scan_iter(match=layout.scan_match, count=1000):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        kind = layout.classify(key)
        if kind.kind == "entry":
            batch.append((key, kind.list_name))
            if len(batch) >= 1000:
                flush()
    if batch:
        flush()
    return dict(sorted(counts.items()))


def build_report(
    conn: psycopg.Connection,
    cfg: AuditConfig,
    access: AccessConfig,
    time_from: datetime,
    time_to: datetime,
    *,
    hotlists: redis.Redis | None = None,
    layout: Layout | None = None,
    now: datetime | None = None,
) -> AuditReport:
    """The figures for [time_from, time_to). `hotlists`: the Redis of the hotlists (None: not counted)."""
    if time_from.tzinfo is None or time_to.tzinfo is None:
        raise ValueError("the report's times need a time zone")
    if time_from >= time_to:
        raise ValueError("the report's start must be before its end")
    began = time.perf_counter()
    params: dict[str, Any] = {
        **hours_params(cfg),
        "t0": time_from,
        "t1": time_to,
        "searches": list(cfg.search_actions),
        "shares": list(cfg.share_actions),
        "bulk": cfg.bulk_results,
        "cap": DETAIL_ROWS,
        "detail_like": ["evidence.%", "sharing.%", "webhook.transfer", "user.%", "role.%", "mfa.reset"],
    }
    report = AuditReport(
        time_from=time_from,
        time_to=time_to,
        generated_at=now or datetime.now(UTC),
        timezone=cfg.timezone,
        working=_working_words(cfg),
        working_hours=cfg.working_hours,
        bulk_threshold=cfg.bulk_results,
    )
    users: dict[str, UserFigures] = {}
    ooh: Counter[str] = Counter()
    orgs: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    transfers: Counter[str] = Counter()
    hot: Counter[str] = Counter()
    accounts: Counter[str] = Counter()
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        # The planner guesses hundreds of thousands of groups where there are hundreds, and would sort
        # a million rows to disk; the groups fit in memory many times over, so hash them. JIT compiling
        # costs more than it saves on a query run once.
        cur.execute("SET LOCAL work_mem = '64MB'")
        cur.execute("SET LOCAL enable_sort = off")
        cur.execute("SET LOCAL jit = off")
        by_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
        for r in cur.execute(_FLAGS, params).fetchall():
            if r["by_hour"]:
                report.by_hour[r["hour"].hour] += int(r["people"])
                by_day[r["hour"].date()][0] += int(r["people"])
                by_day[r["hour"].date()][1] += int(r["searches"])
                continue
            n, action, allowed = int(r["n"]), r["action"], r["outcome"] == "allowed"
            report.rows += n
            if not allowed:
                report.refused += n
            if r["untrained"]:
                report.refused_untrained += n
            if r["bulk"]:
                report.bulk_results += n
            if r["ooh"]:
                report.out_of_hours += n
                ooh[r["username"]] += n
            if action == "login" and not allowed:
                report.failed_logins += n
                failed[r["username"]] += n
            elif action == "login.lockout":
                report.lockouts += n
            if allowed and _is_transfer(action, cfg):
                transfers[action] += n
            if allowed and _is_account_change(action):
                accounts[action] += n
            if allowed and _is_hotlist_change(action):
                hot[action] += n
            if not (r["search"] and r["person"]):
                continue
            who = users.setdefault(r["username"], UserFigures(r["username"], r["organisation"]))
            if not allowed:
                who.refused += n
                report.searches_refused += n
                continue
            report.searches += n
            orgs[r["organisation"]] += n
            who.searches += n
            who.returned += int(r["returned"] or 0)
            for flag, attr in (("wildcard", "wildcard"), ("fuzzy", "fuzzy"), ("no_case", "no_case")):
                if r[flag]:
                    setattr(who, attr, getattr(who, attr) + n)
            if r["bulk"]:
                who.bulk += n
            if r["ooh"]:
                who.out_of_hours += n
        report.by_day = [(d, v[0], v[1]) for d, v in sorted(by_day.items())]
        lists = {
            "no_case": report.without_case_rows,
            "bulk": report.bulk_rows,
            "transfer": report.transfer_rows,
            "account": report.account_rows,
        }
        for r in cur.execute(_DETAIL, params).fetchall():
            kind = r.pop("kind")
            lists[kind].append(RowRef(**r))
    report.searches_by_user = sorted(users.values(), key=lambda u: (-u.searches, u.username))
    report.searches_by_organisation = dict(orgs.most_common())
    report.searches_without_case = sum(u.no_case for u in users.values())
    report.wildcard_searches = sum(u.wildcard for u in users.values())
    report.fuzzy_searches = sum(u.fuzzy for u in users.values())
    report.out_of_hours_by_user = dict(ooh.most_common())
    report.failed_logins_by_user = dict(failed.most_common())
    report.transfers = dict(sorted(transfers.items()))
    report.hotlist_changes = dict(sorted(hot.items()))
    report.account_changes = dict(sorted(accounts.items()))
    report.lapsed_training = _lapsed(conn, access, report.generated_at)
    report.alert_outcomes = _alert_outcomes(conn, time_from, time_to)
    if hotlists is not None:
        try:
            report.hotlist_without_expiry = hotlist_entries_without_expiry(hotlists, layout)
        except redis.RedisError as exc:
            report.hotlist_problem = f"Redis could not be read: {exc}"
    else:
        report.hotlist_problem = "no Redis configured for this report"
    report.seconds = round(time.perf_counter() - began, 3)
    return report


def _alert_outcomes(conn: psycopg.Connection, time_from: datetime, time_to: datetime) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT hotlist, tier, state, coalesce(disposition, '') AS disposition, count(*) AS alerts"
            " FROM alerts WHERE raised_at >= %s AND raised_at < %s"
            " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            (time_from, time_to),
        ).fetchall()


def _lapsed(conn: psycopg.Connection, access: AccessConfig, now: datetime) -> list[dict[str, Any]]:
    """Enabled users holding a role whose required training has lapsed (or never was), as of `now`."""
    roles: dict[str, list[str]] = defaultdict(list)
    orgs: dict[str, str] = {}
    for name, org, role in conn.execute(
        "SELECT u.username, u.organisation, r.role FROM users u JOIN user_roles r USING (user_id)"
        " WHERE u.disabled_at IS NULL ORDER BY 1, 3"
    ).fetchall():
        roles[name].append(role)
        orgs[name] = org
    return [
        {
            "username": lapse.username,
            "organisation": orgs[lapse.username],
            "roles": roles[lapse.username],
            "course": lapse.course,
            "expired_at": lapse.expires_at,
        }
        for lapse in lapsing(conn, access, within_days=0, now=now)
        if lapse.username in roles and lapse.lapsed(now)
    ]
