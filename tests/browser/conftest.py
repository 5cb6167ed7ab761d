"""Fixtures of the browser tests: the real app served over HTTP, and Debian's Chromium driven by
Playwright on a phone-sized screen.

One Chromium runs for the browser tests; each test gets fresh contexts (cookies, cache,
language, JavaScript on or off) and its own app, database and SMS outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

from .support import (
    ACCEPT_LANGUAGE,
    AXE_SCRIPT,
    BROWSER_LOCALE,
    CHROMIUM,
    PHONE,
    LiveServer,
    Mailroom,
    PhoneFactory,
    require,
    serve,
)


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Package-scoped, not session-scoped: while Playwright's sync API runs, its asyncio loop counts as
    running in the main thread, and the tests after these ones run pyHanko's coroutines there."""
    require(CHROMIUM, "Debian's Chromium")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    # Playwright's own browser download cannot work here: always Debian's build.
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    yield browser
    browser.close()


@pytest.fixture
def axe() -> None:
    """Needs axe-core (an npm devDependency that `make test` installs)."""
    require(AXE_SCRIPT, "axe-core")


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    with serve(app) as server:
        yield server


@pytest.fixture
def mailroom(
    app: Flask,
    deposit: Callable[..., Any],
    run_jobs: Callable[[], None],
    outbox: Callable[[], list[dict[str, Any]]],
    pdf: Callable[..., bytes],
) -> Mailroom:
    return Mailroom(app, deposit, run_jobs, outbox, pdf)


@pytest.fixture
def phone(chromium: Browser, live_server: LiveServer) -> Iterator[PhoneFactory]:
    """Makes browser contexts: a phone whose browser asks for `language`.

    `for_axe` lets the test inject axe-core despite the page's strict CSP (the flow tests
    keep the CSP, so a script it would block fails them).
    """
    contexts: list[BrowserContext] = []

    def make(
        language: str, *, javascript: bool = True, for_axe: bool = False, service_worker: bool = True
    ) -> BrowserContext:
        context = chromium.new_context(
            **PHONE,
            locale=BROWSER_LOCALE[language],
            extra_http_headers={"Accept-Language": ACCEPT_LANGUAGE[language]},
            java_script_enabled=javascript,
            bypass_csp=for_axe,
            base_url=live_server.base_url,
            accept_downloads=True,
            service_workers="allow" if service_worker else "block",
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
