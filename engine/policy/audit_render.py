"""The audit report as a file an auditor keeps: one HTML page with inline SVG charts, or CSV.

The page is self-contained (its style and charts inline, nothing fetched), because audit consoles
may have no internet and a report filed today must still open in five years. Every value from the
log is escaped: usernames and case numbers are typed by people.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from .audit_report import AuditReport, RowRef

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:2rem;color:#1b1f24}
h1{font-size:1.5rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:1.8rem 0 .5rem;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:.3rem 0 1rem}
td,th{border:1px solid #ccd;padding:.2rem .6rem;text-align:left}
th{background:#eef1f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.flag{color:#8a1010;font-weight:600}.ok{color:#185c26;font-weight:600}.muted{color:#4a5560}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(12rem,1fr));gap:.5rem;margin:1rem 0}
.figure{border:1px solid #ccd;border-radius:4px;padding:.5rem .7rem}.figure b{display:block;font-size:1.4rem}
svg{display:block;margin:.3rem 0 1rem}
"""


def _n(value: int) -> str:
    return f"{value:,}"


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    out = ["<table><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr>"]
    empty = True
    for row in rows:
        empty = False
        out.append("<tr>")
        for i, cell in enumerate(row):
            text = _n(cell) if isinstance(cell, int) and not isinstance(cell, bool) else str(cell)
            cls = ' class="n"' if i in numeric else ""
            out.append(f"<td{cls}>{escape(text)}</td>")
        out.append("</tr>")
    if empty:
        out.append(f'<tr><td colspan="{len(head)}" class="muted">none</td></tr>')
    out.append("</table>")
    return "".join(out)


def bar_chart(
    bars: Sequence[tuple[str, int]],
    *,
    title: str,
    horizontal: bool = False,
    highlight: Sequence[bool] = (),
    width: int = 720,
) -> str:
    """An inline SVG bar chart; `highlight[i]` draws bar i in the warning colour."""
    if not bars:
        return f'<p class="muted">{escape(title)}: nothing in this period</p>'
    top = max(1, max(v for _, v in bars))
    parts: list[str] = []
    if horizontal:
        row, label_w = 18, 160
        height = row * len(bars) + 24
        for i, (label, value) in enumerate(bars):
            y = 20 + i * row
            w = (width - label_w - 70) * value / top
            colour = "#b3261e" if i < len(highlight) and highlight[i] else "#0b5cad"
            parts.append(
                f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end" font-size="12">'
                f"{escape(label)}</text>"
                f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 5}" fill="{colour}"/>'
                f'<text x="{label_w + w + 4:.1f}" y="{y + 12}" font-size="11">{_n(value)}</text>'
            )
    else:
        height, base, left = 190, 160, 30
        step = (width - left - 10) / len(bars)
        for i, (label, value) in enumerate(bars):
            h = (base - 25) * value / top
            x = left + i * step
            colour = "#b3261e" if i < len(highlight) and highlight[i] else "#0b5cad"
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{max(1.0, step - 2):.1f}" height="{h:.1f}"'
                f' fill="{colour}"><title>{escape(label)}: {_n(value)}</title></rect>'
            )
            every = max(1, len(bars) // 12)
            if i % every == 0:
                parts.append(
                    f'<text x="{x + step / 2:.1f}" y="{base + 14}" text-anchor="middle" font-size="10">'
                    f"{escape(label)}</text>"
                )
        parts.append(f'<text x="{left - 4}" y="{base - (base - 25) + 4}" text-anchor="end" font-size="10">')
        parts.append(f"{_n(top)}</text>")
        parts.append(f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#4a5560"/>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img"'
        f' aria-label="{escape(title)}"><text x="0" y="12" font-size="12" font-weight="600">'
        f"{escape(title)}</text>{''.join(parts)}</svg>"
    )


def _rows_table(rows: Sequence[RowRef], extra: str = "") -> str:
    head = ["row", "time (UTC)", "user", "organisation", "action", "purpose", "case", "returned"]
    if extra:
        head.append(extra)
    body = []
    for r in rows:
        cells: list[Any] = [
            r.seq,
            f"{r.time:%Y-%m-%d %H:%M:%S}",
            r.username,
            r.organisation,
            r.action,
            r.purpose or "",
            r.case_number or "",
            r.returned_count,
        ]
        if extra:
            cells.append(" ".join(x for x in (r.subject or "", r.role or "") if x))
        body.append(cells)
    return _table(head, body, numeric=(0, 7))


def _figure(label: str, value: int, bad: bool = False) -> str:
    cls = ' class="flag"' if bad else ""
    return f'<div class="figure">{escape(label)}<b{cls}>{_n(value)}</b></div>'


def render_html(report: AuditReport, title: str = "Access-log audit") -> str:
    r = report
    period = f"{r.time_from:%Y-%m-%d %H:%M} to {r.time_to:%Y-%m-%d %H:%M} UTC"
    # An hour is red when no part of it lies within the working hours (the chart has no weekdays).
    start, end = (int(t[:2]) * 60 + int(t[3:]) for t in r.working_hours)
    working_hour = [h * 60 + 60 > start and h * 60 < end for h in range(24)]
    hotlist = (
        _table(["list", "entries without expiry"], sorted(r.hotlist_without_expiry.items()), numeric=(1,))
        if r.hotlist_without_expiry is not None
        else f'<p class="flag">{escape(r.hotlist_problem or "not counted")}</p>'
    )
    out = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(title)} {escape(period)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)} (policy 462.4(c))</h1>",
        f'<p class="muted">{escape(period)}; generated {r.generated_at:%Y-%m-%d %H:%M} UTC'
        f" in {r.seconds:.2f} s;"
        f" working hours {escape(r.working)}; bulk means more than {_n(r.bulk_threshold)} rows returned.</p>",
        '<div class="figures">',
        _figure("access-log rows", r.rows),
        _figure("searches", r.searches),
        _figure("searches without a case number", r.searches_without_case, r.searches_without_case > 0),
        _figure("wildcard searches", r.wildcard_searches),
        _figure("fuzzy searches", r.fuzzy_searches),
        _figure("bulk results", r.bulk_results, r.bulk_results > 0),
        _figure("out-of-hours access", r.out_of_hours),
        _figure("exports and shares", sum(r.transfers.values())),
        _figure("failed logins", r.failed_logins),
        _figure("account and role changes", sum(r.account_changes.values())),
        _figure("users with lapsed training", len({x["username"] for x in r.lapsed_training})),
        _figure("refused requests", r.refused),
        "</div>",
        "<h2>Searches per user</h2>",
        bar_chart(
            [(u.username, u.searches) for u in r.searches_by_user[:25]], title="searches", horizontal=True
        ),
        _table(
            [
                "user",
                "organisation",
                "searches",
                "rows returned",
                "wildcard",
                "fuzzy",
                "no case",
                "bulk",
                "out of hours",
                "refused",
            ],
            [
                (
                    u.username,
                    u.organisation,
                    u.searches,
                    u.returned,
                    u.wildcard,
                    u.fuzzy,
                    u.no_case,
                    u.bulk,
                    u.out_of_hours,
                    u.refused,
                )
                for u in r.searches_by_user
            ],
            numeric=range(2, 10),
        ),
        "<h2>Searches per organisation</h2>",
        _table(["organisation", "searches"], r.searches_by_organisation.items(), numeric=(1,)),
        "<h2>Access by hour of day and by day</h2>",
        bar_chart(
            [(f"{h:02d}", v) for h, v in enumerate(r.by_hour)],
            title=f"people's requests per local hour ({r.timezone}); red: outside working hours",
            highlight=[not w for w in working_hour],
        ),
        bar_chart([(f"{d:%m-%d}", people) for d, people, _ in r.by_day], title="people's requests per day"),
        "<h2>Out-of-hours access per user</h2>",
        _table(["user", "requests"], r.out_of_hours_by_user.items(), numeric=(1,)),
        "<h2>Searches without a case number (should be none)</h2>",
        _rows_table(r.without_case_rows),
        "<h2>Bulk results</h2>",
        _rows_table(r.bulk_rows),
        "<h2>Exports and shares</h2>",
        _table(["action", "rows"], r.transfers.items(), numeric=(1,)),
        _rows_table(r.transfer_rows),
        "<h2>Hotlists</h2>",
        hotlist,
        _table(["change", "rows"], r.hotlist_changes.items(), numeric=(1,)),
        "<h2>Lapsed training (as of the report)</h2>",
        _table(
            ["user", "organisation", "roles", "course", "expired"],
            [
                (
                    x["username"],
                    x["organisation"],
                    ", ".join(x["roles"]),
                    x["course"],
                    f"{x['expired_at']:%Y-%m-%d}" if x["expired_at"] else "never trained",
                )
                for x in r.lapsed_training
            ],
        ),
        f"<p>Requests refused for lapsed training in the period: {_n(r.refused_untrained)}</p>",
        "<h2>Failed logins</h2>",
        f"<p>{_n(r.failed_logins)} failed logins, {_n(r.lockouts)} lockouts.</p>",
        _table(["user", "failed logins"], r.failed_logins_by_user.items(), numeric=(1,)),
        "<h2>Account and role changes</h2>",
        _table(["action", "rows"], r.account_changes.items(), numeric=(1,)),
        _rows_table(r.account_rows, extra="account, role"),
        "<h2>Alerts and what came of them</h2>",
        _table(
            ["hotlist", "tier", "state", "disposition", "alerts"],
            [(x["hotlist"], x["tier"], x["state"], x["disposition"], x["alerts"]) for x in r.alert_outcomes],
            numeric=(4,),
        ),
        "</body></html>",
    ]
    return "".join(out)


def render_csv(report: AuditReport) -> str:
    """One row per figure: section, item, organisation, count, detail (spreadsheet-friendly)."""
    r = report
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["section", "item", "organisation", "count", "detail"])
    w.writerow(["period", "from", "", "", r.time_from.isoformat()])
    w.writerow(["period", "to", "", "", r.time_to.isoformat()])
    for item, value in (
        ("access-log rows", r.rows),
        ("refused requests", r.refused),
        ("searches", r.searches),
        ("searches refused", r.searches_refused),
        ("searches without a case number", r.searches_without_case),
        ("wildcard searches", r.wildcard_searches),
        ("fuzzy searches", r.fuzzy_searches),
        ("bulk results", r.bulk_results),
        ("out-of-hours access", r.out_of_hours),
        ("failed logins", r.failed_logins),
        ("lockouts", r.lockouts),
        ("refused for lapsed training", r.refused_untrained),
    ):
        w.writerow(["totals", item, "", value, ""])
    for u in r.searches_by_user:
        detail = json.dumps(
            {k: getattr(u, k) for k in ("returned", "wildcard", "fuzzy", "no_case", "bulk", "out_of_hours")}
        )
        w.writerow(["searches per user", u.username, u.organisation, u.searches, detail])
    for org, n in r.searches_by_organisation.items():
        w.writerow(["searches per organisation", org, org, n, ""])
    for name, n in r.out_of_hours_by_user.items():
        w.writerow(["out of hours per user", name, "", n, ""])
    for hour, n in enumerate(r.by_hour):
        w.writerow(["requests per local hour", f"{hour:02d}", "", n, r.timezone])
    for action, n in r.transfers.items():
        w.writerow(["exports and shares", action, "", n, ""])
    for action, n in r.hotlist_changes.items():
        w.writerow(["hotlist changes", action, "", n, ""])
    for name, n in (r.hotlist_without_expiry or {}).items():
        w.writerow(["hotlist entries without expiry", name, "", n, ""])
    for x in r.lapsed_training:
        expired = x["expired_at"].isoformat() if x["expired_at"] else "never trained"
        w.writerow(["lapsed training", x["username"], x["organisation"], "", f"{x['course']}: {expired}"])
    for name, n in r.failed_logins_by_user.items():
        w.writerow(["failed logins per user", name, "", n, ""])
    for action, n in r.account_changes.items():
        w.writerow(["account and role changes", action, "", n, ""])
    for x in r.alert_outcomes:
        detail = f"{x['tier']} {x['state']} {x['disposition']}".strip()
        w.writerow(["alerts by list and outcome", x["hotlist"], "", x["alerts"], detail])
    for section, rows in (
        ("search without a case number", r.without_case_rows),
        ("bulk result", r.bulk_rows),
        ("export or share", r.transfer_rows),
        ("account or role change", r.account_rows),
    ):
        for row in rows:
            detail = f"row {row.seq} {row.time.isoformat()} {row.action} case={row.case_number or ''}"
            if row.subject:
                detail += f" account={row.subject}"
            w.writerow([section, row.username, row.organisation, row.returned_count, detail])
    return buf.getvalue()
