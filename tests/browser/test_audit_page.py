"""The auditor's page in a real browser (Debian's chromium, driven by Playwright) against the real API.

An auditor logs in and lands on /audit: this month's figures and charts come from the report route,
last month's scheduled audit shows as overdue (a banner, and OVERDUE in its row), its review sample
opens, the notification of a bulk search is listed, and the auditor signs the audit off, after which
the banner is gone. The page sets no inline style or script (the CSP would block it) and the
console stays free of errors. Screenshots go to $PLATEWATCH_TEST_ARTEFACTS (default: the test's
tmp_path); PLATEWATCH_UPDATE_DOCS_IMG=1 also copies one to docs/img/audit.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from api_server import api_settings, serve_api
from pages import console_errors, keep_for_docs, log_in_through, needs_chromium
from playwright.sync_api import Browser, expect
from policy_people import cheap_hashes, found_department
from psycopg.types.json import Jsonb

from platewatch.engine.policy import audit_schedule, audit_watch
from platewatch.engine.policy.roles import Role
from platewatch.engine.store import migrate

pytestmark = needs_chromium
VIEWPORT = {"width": 1366, "height": 900}  # the report, the charts and the audits on one screen


def _rows(conn: psycopg.Connection[Any], at: datetime, username: str, n: int, **kw: Any) -> None:
    """Search rows at a chosen time (append stamps the database's clock, which a test cannot move)."""
    ids = dict(conn.execute("SELECT username, user_id FROM users").fetchall())
    for i in range(n):
        seq = conn.execute(
            "SELECT coalesce(nextval(pg_get_serial_sequence('access_log', 'seq')),"
            " (SELECT coalesce(max(seq), 0) + 1 FROM access_log))"
        ).fetchone()
        assert seq is not None
        conn.execute(
            "INSERT INTO access_log (seq, time, user_id, username, organisation, action, terms, purpose,"
            " case_number, outcome, returned_count, prev_hash, hash)"
            " VALUES (%s, %s, %s, %s, %s, 'reads.search', %s, 'criminal investigation', %s, 'allowed', %s,"
            " %s, %s)",
            (
                seq[0],
                at + timedelta(seconds=i),
                ids[username],
                username,
                kw.get("org", "PAPD"),
                Jsonb(kw.get("terms", {"plate": "7ABC123"})),
                kw.get("case", "24-001234"),
                kw.get("returned", 3),
                bytes(32),
                bytes(32),
            ),
        )


@pytest.fixture
def site(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, int]]:
    cheap_hashes(monkeypatch)
    migrate(database_url)
    settings = api_settings(tmp_path, database_url, redis_url)
    cfg = settings.audit
    now = datetime.now(UTC)
    this_start, _ = audit_schedule.period_bounds(cfg.period, cfg.timezone, now)
    last_start, _ = audit_schedule.period_bounds(cfg.period, cfg.timezone, this_start - timedelta(days=1))
    with psycopg.connect(database_url, autocommit=True) as conn:
        dept = found_department(conn, settings.access)
        dept.add("ivy", Role.INVESTIGATOR)
        dept.add("ken", Role.INVESTIGATOR)
        dept.add("aud", Role.AUDITOR)
        dept.add("sue", Role.SUPERVISOR)
        # last month: searches by three people, one without a case number
        for who, n in (("ivy", 14), ("ken", 9), ("sue", 4)):
            _rows(conn, last_start + timedelta(days=3, hours=17), who, n)
        _rows(conn, last_start + timedelta(days=4, hours=18), "ken", 1, case=None)
        # this month so far (the page's default period), some at night and two partial plates
        first = now - timedelta(minutes=30)  # inside this UTC month (the page's default) and audit period
        _rows(conn, first + timedelta(minutes=1), "ivy", 12)
        _rows(conn, first + timedelta(minutes=2), "ken", 7, org="SCSO")
        _rows(conn, first + timedelta(minutes=3), "ken", 2, org="SCSO", terms={"pattern": "7AB*"})
        _rows(conn, now - timedelta(minutes=3), "ivy", 1, returned=800)
        done = audit_watch.run_audit_upkeep(conn, cfg, settings.access, data_dir=tmp_path, now=now)
        assert done.problems == [] and len(done.produced) == 1, done
        audit_id = done.produced[0]
        conn.execute("UPDATE audits SET due_at = now() - interval '1 day' WHERE audit_id = %s", (audit_id,))
        audit_watch.raise_overdue(conn, cfg)
    with serve_api(settings) as url:
        yield url, audit_id


def test_an_auditor_reads_the_report_opens_the_sample_and_signs_off_an_overdue_audit(
    browser: Browser, site: tuple[str, int], artefacts: Path
) -> None:
    url, audit_id = site
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems = console_errors(page)

    log_in_through(page, url, "/audit", "aud")  # an auditor reaches no ALPR data: no second factor
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    # before logging in: /api/v1/auth/me answered 401 (which sent the page to log in), and the login
    # page's browser asked for a favicon
    problems.clear()
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    searches = page.locator('.figure[data-figure="searches"] .value')
    expect(searches).to_have_text("22")
    expect(page.locator('.figure[data-figure="wildcard searches"] .value')).to_have_text("2")
    expect(page.locator('.figure[data-figure="bulk results"]')).to_have_class(re.compile("flag"))
    expect(page.locator("#chart-users svg rect")).to_have_count(2)
    expect(page.locator("#chart-hours svg rect")).to_have_count(24)
    expect(page.locator("#t-users")).to_contain_text("SCSO")

    banner = page.locator("#overdue")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(f"audit {audit_id}")
    audit_row = page.locator(f'#t-audits tr[data-audit="{audit_id}"]')
    expect(audit_row).to_contain_text("OVERDUE")
    expect(audit_row).to_contain_text("0 of 25")
    expect(page.locator("#t-notes")).to_contain_text("800 rows")

    page.screenshot(path=str(artefacts / "audit.png"), full_page=False)

    audit_row.get_by_role("button", name="Sample").click()
    sample = page.locator("#t-sample")
    expect(sample.locator("tr")).to_have_count(26)  # the header and 25 of last month's 28 searches
    expect(sample).to_contain_text("not reviewed")

    audit_row.get_by_role("button", name="Sign off…").click()
    page.get_by_label(re.compile("Sign off audit")).fill(
        "read; the search without a case number is with ken's sergeant"
    )
    page.get_by_role("button", name="Sign off", exact=True).click()
    expect(page.locator("#message")).to_contain_text(f"audit {audit_id} signed off")
    expect(audit_row).to_contain_text("signed by aud")
    expect(banner).to_be_hidden()
    assert problems == []
    keep_for_docs(artefacts / "audit.png", "audit.png")
    context.close()
