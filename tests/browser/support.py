"""What the browser tests share: where Chromium and axe-core are, a phone to browse with,
the service's side of a letter (deposit, queue, SMS outbox), and the checks run on pages."""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Locator, Page, Response
from werkzeug.serving import make_server

from webapp.extensions import db
from webapp.models import Evidence
from webapp.models import Letter as LetterRow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
AXE_SCRIPT = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"

# WCAG 2.0, 2.1 and 2.2, levels A and AA (issue 4, item 5), and axe's best practices: "axe reports
# nothing" means its default rule set too, which includes them.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

# A low-end Android phone: what most recipients open the SMS link on.
PHONE: dict[str, Any] = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36"
    ),
}
ACCEPT_LANGUAGE = {"fr": "fr-MA,fr;q=0.9,en;q=0.5", "ar": "ar-MA,ar;q=0.9,fr;q=0.5", "en": "en-GB,en;q=0.9"}
BROWSER_LOCALE = {"fr": "fr-MA", "ar": "ar-MA", "en": "en-GB"}

MIN_TARGET = 48  # CSS pixels (issue 4, item 5); axe's target-size rule checks WCAG 2.2's 24.
ARABIC_LETTER = re.compile(r"[\u0600-\u06FF]")


def require(path: Path, what: str) -> None:
    """Skips the test when a tool is missing, except on CI, where a silent skip would hide a broken setup."""
    if path.exists():
        return
    message = f"{what} not found at {path} (run `make test`, which installs it)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI is set, so the browser tests may not be skipped")
    pytest.skip(message)


def normalise_space(text: str) -> str:
    """Babel puts no-break spaces in dates and sizes; the page and the expectation may differ only there."""
    return " ".join(text.split())


class PhoneFactory(Protocol):
    """Makes a browser context: a phone whose browser asks for pages in `language`."""

    def __call__(
        self, language: str, *, javascript: bool = True, for_axe: bool = False, service_worker: bool = True
    ) -> BrowserContext: ...


# --- the app served over HTTP ----------------------------------------------------------


@dataclass(frozen=True)
class LiveServer:
    base_url: str


@contextmanager
def serve(app: Flask) -> Iterator[LiveServer]:
    """The app on 127.0.0.1 with a free port, one thread per request, until the block ends."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server", daemon=True
    )
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- the service's side of a letter ------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    """A notified letter as its recipient knows it (the SMS link's path) and as its sender deposited it."""

    id: str
    reference: str
    path: str
    document: bytes
    filename: str


class Mailroom:
    """Deposits letters through the API, works the job queue, and reads the SMS outbox."""

    def __init__(
        self,
        app: Flask,
        deposit: Callable[..., Any],
        run_jobs: Callable[[], None],
        outbox: Callable[[], list[dict[str, Any]]],
        pdf: Callable[..., bytes],
    ) -> None:
        self.app = app
        self._deposit = deposit
        self._run_jobs = run_jobs
        self.outbox = outbox
        self._pdf = pdf

    def run_jobs(self) -> None:
        """Works the queue in this thread, outside Playwright's event loop.

        Playwright's sync API keeps its asyncio loop marked as running in the test's thread,
        and the seal and proof jobs run pyHanko's coroutines on a private loop, which asyncio
        refuses while another one runs.  (The worker must stay in the main thread: RQ
        installs signal handlers.)
        """
        playwright_loop = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(None)
        try:
            self._run_jobs()
        finally:
            asyncio.events._set_running_loop(playwright_loop)

    def letter(self, language: str = "fr", size: int = 40 * 1024) -> Delivered:
        document = self._pdf(pad_to=size, text_marker=f"browser test {language} {size}")
        filename = "mise-en-demeure.pdf"
        created = self._deposit(document=document, filename=filename, language=language)
        assert created.status_code == 201, created.json
        body = created.json
        self.run_jobs()
        [sms] = [m for m in self.outbox() if body["reference"] in m["text"]]
        public_url = self.app.extensions["wassit"].settings.public_url  # the live server has another address
        match = re.search(re.escape(public_url) + r"(/l/[A-Za-z0-9_-]+)", sms["text"])
        assert match, sms["text"]
        return Delivered(body["id"], body["reference"], match.group(1), document, filename)

    def sms_count(self) -> int:
        return len(self.outbox())

    def code_sent_after(self, count: int) -> str:
        """Works the queue, then reads the one code SMS sent since the outbox held `count` messages."""
        self.run_jobs()
        sent = self.outbox()[count:]
        assert len(sent) == 1, sent
        # The last line is Android's WebOTP line: `@host #123456`.
        match = re.search(r"#(\d{6})\s*$", sent[0]["text"])
        assert match, sent[0]["text"]
        return match.group(1)

    def row(self, letter: Delivered) -> LetterRow:
        with self.app.app_context():
            row = db.session.get_one(LetterRow, letter.id)
            db.session.expunge(row)
            db.session.remove()
        return row

    def status(self, letter: Delivered) -> str:
        return self.row(letter).status.value

    def first_evidence_id(self, letter: Delivered) -> str:
        with self.app.app_context():
            evidence_id = (
                db.session.query(Evidence.id).filter(Evidence.letter_id == letter.id).order_by(Evidence.seq).first()
            )
            db.session.remove()
        assert evidence_id is not None
        return str(evidence_id[0])

    def formatted(self, language: str, filter_name: str, value: Any, *args: Any) -> str:
        """A value as the pages print it in `language` (the app's own Jinja filter)."""
        headers = {"Accept-Language": ACCEPT_LANGUAGE[language]}
        with self.app.test_request_context("/", headers=headers):
            return str(self.app.jinja_env.filters[filter_name](value, *args))

    def deadline_text(self, letter: Delivered, language: str) -> str:
        deadline: datetime | None = self.row(letter).deadline_at
        assert deadline is not None
        return self.formatted(language, "local_time", deadline, "long")

    def size_text(self, letter: Delivered, language: str) -> str:
        return self.formatted(language, "filesize", len(letter.document))


# --- checks run on a page ----------------------------------------------------------------


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of WCAG 2.x A and AA and of its best practices, on the page as it is now."""
    if not page.evaluate("typeof axe !== 'undefined'"):  # still there after an htmx swap
        page.add_script_tag(path=str(AXE_SCRIPT))
    result: dict[str, Any] = page.evaluate(
        """tags => axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})""",
        AXE_TAGS,
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            summary = " ".join(str(node.get("failureSummary") or "").split())
            lines.append(f"    at {target}: {summary}")
            lines.append(f"       {node['html'][:200]}")
    return "\n".join(lines)


# Controls smaller than 48x48 CSS px, except links inside a sentence (WCAG 2.5.8's inline exception):
# the text around them, links left out, must hold words, not just separators ("Home · Help" is no sentence).
SMALL_TARGETS_JS = """min => {
  const controls = document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, '
    + 'summary, [role=button], [tabindex]:not([tabindex="-1"])');
  const wordsAround = link => {
    const block = link.parentElement && link.parentElement.closest('p, li, dd, td, th, figcaption, blockquote');
    if (!block) return 0;
    const copy = block.cloneNode(true);
    copy.querySelectorAll('a').forEach(a => a.remove());
    return (copy.textContent.match(/\\p{L}+/gu) || []).length;
  };
  const small = [];
  for (const el of controls) {
    if (!el.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (box.width >= min && box.height >= min) continue;
    if (el.tagName === 'A' && getComputedStyle(el).display === 'inline' && wordsAround(el) >= 3) continue;
    small.push(`${el.outerHTML.slice(0, 160)} is ${Math.round(box.width)}x${Math.round(box.height)}`);
  }
  return small;
}"""


def small_touch_targets(page: Page) -> list[str]:
    small: list[str] = page.evaluate(SMALL_TARGETS_JS, MIN_TARGET)
    return small


def submit(page: Page, button: Locator, path: str) -> None:
    """Clicks a form's button, then waits until the server answered the POST to `path` and a new
    `<main>` replaced the old one (a new page, or htmx's swap).  The same page may come back
    (a new code asked from the code page), so the next page's elements alone prove nothing."""

    def answers_the_post(response: Response) -> bool:
        return response.request.method == "POST" and urlsplit(response.url).path == path

    page.locator("main").evaluate("main => { main.dataset.stale = '1'; }")
    with page.expect_response(answers_the_post):
        button.click()
    page.locator("main:not([data-stale])").wait_for()


# --- the recipient's steps -----------------------------------------------------------------


class Recipient:
    """A recipient on a page, taking the steps of the SMS link's flow by clicking and typing.

    Each step waits for what the next page shows, so it works the same whether the browser
    loads a whole page (JavaScript off) or htmx swaps `<main>` in place.
    """

    def __init__(self, page: Page, mailroom: Mailroom, letter: Delivered) -> None:
        self.page, self.mailroom, self.letter = page, mailroom, letter

    def open_link(self) -> None:
        self.page.goto(self.letter.path)

    def main_text(self) -> str:
        return normalise_space(self.page.locator("main").inner_text())

    def html_attribute(self, name: str) -> str | None:
        return self.page.locator("html").get_attribute(name)

    def submit(self, button: Locator, action: str) -> None:
        submit(self.page, button, self.letter.path + action)

    def ask_code(self) -> str:
        """Asks for a code from the landing page (or again from the code page); returns the code the SMS brought."""
        before = self.mailroom.sms_count()
        self.submit(self.ask_code_button, "/code")
        self.code_field.wait_for()
        self.page.wait_for_url(f"**{self.letter.path}/code?sent=1")
        return self.mailroom.code_sent_after(before)

    @property
    def ask_code_button(self) -> Locator:
        return self.page.locator(f'form[action$="{self.letter.path}/code"] button[type=submit]')

    @property
    def code_field(self) -> Locator:
        return self.page.locator('form[action$="/code/check"] input[name=code]')

    def type_code(self, code: str) -> None:
        self.code_field.fill(code)
        self.submit(self.page.locator('form[action$="/code/check"] button[type=submit]'), "/code/check")

    def identify(self) -> None:
        self.type_code(self.ask_code())
        self.accept_button.wait_for()
        self.page.wait_for_url(f"**{self.letter.path}/decision")

    @property
    def accept_button(self) -> Locator:
        return self.page.locator("button[name=decision][value=accept]")

    @property
    def download_link(self) -> Locator:
        return self.page.locator('a[href$="/document"]')

    def accept(self) -> None:
        self.submit(self.accept_button, "/decision")
        self.download_link.wait_for()
        self.page.wait_for_url(f"**{self.letter.path}/letter")

    def open_refusal(self) -> None:
        self.page.locator("details:has(button[name=decision][value=refuse]) > summary").click()
        self.page.locator("textarea[name=reason]").wait_for()

    def refuse(self, reason: str) -> None:
        self.open_refusal()
        self.page.locator("textarea[name=reason]").fill(reason)
        self.submit(self.page.locator("button[name=decision][value=refuse]"), "/decision")
        self.page.locator("button[name=decision]").first.wait_for(state="detached")
