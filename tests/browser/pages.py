"""What the browser tests share: the chromium they drive, the screen, logging in through a page shell,
the errors a page shows in its console, and the screenshots the docs use.

A page's tests may run on a machine without chromium; each test module marks itself with
`needs_chromium` so it is skipped there, with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import quote

import pyotp
import pytest
from playwright.sync_api import Page, expect
from policy_people import PASSWORD

CHROMIUM = Path(os.environ.get("PLATEWATCH_CHROMIUM", "/usr/bin/chromium"))
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"no chromium at {CHROMIUM}: `apt-get install chromium`, or point PLATEWATCH_CHROMIUM at one",
)
#: The console the pages are made for (policy: readable without sideways scrolling).
VIEWPORT = {"width": 1366, "height": 768}
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def log_in_through(page: Page, api: str, path: str, username: str, totp: pyotp.TOTP | None = None) -> None:
    """Open a page shell with no session: it sends the browser to log in (password, then the code from
    `totp` where the user has a second factor) and, once logged in, back to `path`."""
    page.goto(api + path)
    expect(page).to_have_url(re.compile(r"/login\?next=" + re.escape(quote(path, safe="")) + "$"))
    page.wait_for_load_state("load")  # the login script is running: typing before it would be lost
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.keyboard.press("Enter")
    if totp is not None:
        code = page.get_by_label("Code from your authenticator app")
        expect(code).to_be_focused()
        code.fill(totp.now())
        code.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def console_errors(page: Page) -> list[str]:
    """Script errors and what the console reports (CSP refusals, failed loads) from now on."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def keep_for_docs(screenshot: Path, name: str) -> None:
    """With PLATEWATCH_UPDATE_DOCS_IMG set, the screenshot becomes docs/img/<name>."""
    if os.environ.get("PLATEWATCH_UPDATE_DOCS_IMG"):
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, DOCS_IMG / name)
