"""Fixtures of the browser tests: one chromium per test module, a fresh page on the usual screen for
each test, and where screenshots go ($PLATEWATCH_TEST_ARTEFACTS, default: the test's tmp_path)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pages import CHROMIUM, VIEWPORT
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

#: Assertions wait as long as actions do: `expect` has its own 5 s default, which a page whose
#: request writes a durable access-log row and a Redis entry outlasted in a CI run sharing its two
#: cores with a benchmark (the hotlist page test, which passes alone in 7 s).
expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def artefacts(tmp_path: Path) -> Path:
    where = Path(os.environ.get("PLATEWATCH_TEST_ARTEFACTS") or tmp_path / "artefacts")
    where.mkdir(parents=True, exist_ok=True)
    return where
