"""The public usage-and-privacy page (Civil Code § 1798.90.51): /privacy and its JSON, without a login.

The statute wants the policy "available to the public in writing" and posted conspicuously on the
operator's web site, so the page is rendered on the server (it reads without script) from the
`privacy` section, which refuses to load without every element § 1798.90.51(b)(2) requires. Beside
it, totals per month only (engine/policy/public_counts.py): nothing a person could use to follow a
vehicle. The counts are cached per API process for `CACHE_S`, so anyone reloading the page costs the
database one aggregate query per quarter hour, and the policy text is shown even while the
database is down.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime
from html import escape
from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from psycopg_pool import ConnectionPool, PoolTimeout

from platewatch.engine.config import Settings
from platewatch.engine.config.privacy import REQUIRED_ELEMENTS, PrivacyConfig
from platewatch.engine.policy.public_counts import MonthCounts, public_counts

from .pages import PAGE_HEADERS

log = logging.getLogger(__name__)
router = APIRouter(tags=["public"])
CACHE_S = 900.0
_lock = threading.Lock()

#: The page's headings for each element, in the statute's order.
HEADINGS = {
    "authorised_uses": "Authorised uses and purposes",
    "job_titles": "Who may use the system",
    "training": "Training",
    "monitoring": "Monitoring and audits",
    "sharing": "Sharing, and what is never done",
    "custodian_title": "Official custodian",
    "accuracy": "Accuracy and correcting errors",
    "retention": "Retention and destruction",
}
COLUMNS = (
    ("reads", "plates read"),
    ("hits", "hits"),
    ("verified_hits", "verified hits"),
    ("searches", "searches"),
    ("shares", "shares"),
)


def _counts(request: Request) -> list[MonthCounts] | None:
    """The monthly counts, from this process's cache when fresh; None when the database cannot answer."""
    state = request.app.state
    cached: tuple[float, list[MonthCounts]] | None = getattr(state, "privacy_counts", None)
    if cached is not None and time.monotonic() - cached[0] < CACHE_S:
        return cached[1]
    pool: ConnectionPool | None = state.pool
    if pool is None:
        return None
    settings: Settings = state.settings
    with _lock:
        again: tuple[float, list[MonthCounts]] | None = getattr(state, "privacy_counts", None)
        if again is not None and time.monotonic() - again[0] < CACHE_S:
            return again[1]
        try:
            with pool.connection(timeout=10.0) as conn:
                counts = public_counts(conn, settings.audit, settings.privacy.months)
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("public page: counts unavailable (%s)", type(exc).__name__)
            return None
        state.privacy_counts = (time.monotonic(), counts)
        return counts


def policy_document(cfg: PrivacyConfig) -> dict[str, Any]:
    return {
        "agency": cfg.agency,
        "elements": {name: getattr(cfg, name) for name in REQUIRED_ELEMENTS},
        "contact": cfg.contact,
        "statute": "California Civil Code section 1798.90.51",
    }


@router.get("/api/v1/privacy", name="privacy.json")
def privacy_json(request: Request) -> JSONResponse:
    """The usage and privacy policy and the monthly totals, as JSON (public, no login)."""
    settings: Settings = request.app.state.settings
    counts = _counts(request)
    body = {
        **policy_document(settings.privacy),
        "as_of": f"{datetime.now(UTC):%Y-%m-%d}",
        "months": [asdict(c) for c in counts] if counts is not None else None,
    }
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})


def render_page(cfg: PrivacyConfig, counts: list[MonthCounts] | None, as_of: str) -> str:
    sections = []
    for name, heading in HEADINGS.items():
        value = getattr(cfg, name)
        if isinstance(value, list):
            body = "<ul>" + "".join(f"<li>{escape(v)}</li>" for v in value) + "</ul>"
        else:
            body = f"<p>{escape(value)}</p>"
        sections.append(f'<section id="{name}"><h2>{escape(heading)}</h2>{body}</section>')
    if counts is None:
        table = (
            '<p class="fineprint">The monthly figures cannot be read just now; please try again later.</p>'
        )
    else:
        head = "".join(f'<th scope="col">{escape(label)}</th>' for _, label in COLUMNS)
        rows = "".join(
            f'<tr><th scope="row">{escape(c.month)}</th>'
            + "".join(f'<td class="n">{getattr(c, key):,}</td>' for key, _ in COLUMNS)
            + "</tr>"
            for c in reversed(counts)
        )
        table = f'<table class="counts"><tr><th scope="col">month</th>{head}</tr>{rows}</table>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Automated license plate readers: usage and privacy policy</title>"
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/style.css">'
        '<link rel="stylesheet" href="/static/privacy.css"></head><body class="privacy">'
        '<header class="bar"><span class="brand">Automated license plate readers</span>'
        '<span class="tag">usage and privacy policy</span></header><main class="policy">'
        f"<h1>How {escape(cfg.agency)} uses automated license plate readers</h1>"
        '<p class="lead">This is the usage and privacy policy that California Civil Code section '
        "1798.90.51 requires of every operator of an automated license plate recognition (ALPR) "
        "system.</p>"
        f"{''.join(sections)}"
        f'<section id="contact"><h2>Contact</h2><p>{escape(cfg.contact)}</p></section>'
        '<section id="figures"><h2>The system in figures</h2>'
        "<p>Totals per calendar month (UTC). Hits are matches against lists of vehicles of interest; "
        "verified hits are those a dispatcher confirmed. Shares are releases of data to other agencies. "
        "No plate, image, camera location or time of any read is published here.</p>"
        f'{table}<p class="fineprint">As of {escape(as_of)}.</p></section>'
        "</main></body></html>"
    )


@router.get("/privacy", name="privacy.page", include_in_schema=False)
def privacy_page(request: Request) -> HTMLResponse:
    """The public page: the policy text, and the monthly totals when the database answers."""
    settings: Settings = request.app.state.settings
    page = render_page(settings.privacy, _counts(request), f"{datetime.now(UTC):%Y-%m-%d}")
    return HTMLResponse(page, headers={**PAGE_HEADERS, "Cache-Control": "public, max-age=300"})
